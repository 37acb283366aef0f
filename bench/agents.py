"""Benchmark of the agents (not a test).

    python -m bench.agents [--agents 10] [--budget 300000] [--seed 1]
    python -m bench.agents --real [--agents 2] [--budget 15000] [--seconds 300]

Starts a whole session (three text nodes on their own PostgreSQL, the chat on Redis,
analytics on PostgreSQL, the fake model with a fixed seed) from the seed demo's
starting text, runs the agents until the token budget is spent, and prints JSON:
versions produced, edits applied per 1,000 tokens, tokens and LLM calls per applied
edit, cancel and conflict rates, and the protocol's own time per edit (agent wall
time minus model time). Each figure stands beside two references: the seed demo's
(31 versions, 4 calls per edit; at most 4,000 tokens per edit asked) and, measured
in the same run, the same agents shown the whole document in every phase.

With --real the agents write on a real small model (llama-cpp-python's server on
SmolLM2-135M, the `local-llm` extra or COEDIT_LOCAL_LLM_PYTHON; the seed story in
English) and, in the same run and setup, on the fake model; each run stops when the
budget is spent or after --seconds. One request at a time on that server: keep the
agents few."""

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from coedit.agent.prompts import MAX_TOKENS
from coedit.chat.client import MAX_PAGE, ChatClient
from coedit.local.processes import ServiceProcess
from coedit.local.servers import PostgresServer, RedisServer
from coedit.text_node.client import TextNodeClient
from coedit.up.local_llm import MODEL_ALIAS, LocalLLMProcess
from coedit.up.session_file import SEED_TEXT, SEED_TEXT_EN, SEED_TOPIC, SEED_TOPIC_EN

TOKEN = "bench-token"
TOKEN_ENV = {"COEDIT_AUTH_TOKEN": TOKEN}  # a secret goes by environment, never as a flag (`ps` shows flags)
SEED_DEMO = {"versions": 31, "llm_calls_per_edit": 4, "max_tokens_per_edit": 4000}
CONFLICTS = ("claimed this place first", "anchor", "already in the document")


def start_session(root: Path, budget: int, seed: int, real: bool = False) -> dict:
    servers, services = [], []
    databases = [PostgresServer(root / f"pg-{n}", fsync=False).start() for n in ("a", "b", "c", "an")]
    redis = RedisServer(root / "redis").start()
    servers += [*databases, redis]
    nodes = {n: ServiceProcess("text-node", [], root, name=f"text-{n}", env=TOKEN_ENV) for n in "abc"}
    for (name, node), db in zip(nodes.items(), databases):
        peers = ",".join(other.url for other_name, other in nodes.items() if other_name != name)
        node.args = ["--node-id", name, "--database-url", db.url, "--peers", peers,
                     "--token-budget", str(budget), "--initial-text", SEED_TEXT_EN if real else SEED_TEXT]
    chat = ServiceProcess("chat", ["--redis-url", redis.url], root, env=TOKEN_ENV)
    analytics = ServiceProcess("analytics", ["--database-url", databases[3].url], root, env=TOKEN_ENV)
    model = LocalLLMProcess(root) if real else ServiceProcess("fake-llm", ["--seed", str(seed)], root, env=TOKEN_ENV)
    services = [*nodes.values(), chat, analytics, model]
    for service in services:
        service.start(wait_ready=False)
    for service in services:
        service.wait_ready(180)
    return {"nodes": nodes, "chat": chat, "analytics": analytics, "model": model,
            "servers": servers, "services": services}


def stop_session(session: dict) -> None:
    for service in session["services"]:
        service.stop()
    for server in session["servers"]:
        server.stop()


def run_agents(session: dict, root: Path, count: int, extra: list[str], seconds: float = 600,
               english: bool = False) -> tuple[list[dict], list[dict]]:
    """Start the agents together, stop them (SIGTERM) after `seconds`, wait for all;
    return each one's stop log line, and every model call's (debug) log line."""
    nodes = ",".join(node.url for node in session["nodes"].values())
    personas = ["plotter", "stylist", "editor"] if english else ["сюжетник", "стилист", "редактор"]
    processes = []
    for n in range(count):
        log = open(root / f"agent-{n}.log", "wb")
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "coedit", "agent", "--agent-id", f"agent-{n}",
             "--persona", personas[n % 3], "--topic", SEED_TOPIC_EN if english else SEED_TOPIC,
             "--text-nodes", nodes, "--chat-url", session["chat"].url,
             "--analytics-url", session["analytics"].url, "--llm-base-url", f"{session['model'].url}/v1", *extra],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **TOKEN_ENV, "COEDIT_LLM_API_KEY": TOKEN},
        ))
    deadline = time.monotonic() + seconds
    for process in processes:
        try:
            process.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)  # a clean stop: the open intent is released
    for process in processes:
        process.wait(120)
    stops, calls = [], []
    for n in range(count):
        for line in (root / f"agent-{n}.log").read_text().splitlines():
            if '"agent_stopped"' in line and '"busy_ms"' in line:
                stops.append(json.loads(line))
            elif '"model_call"' in line or '"structured_output"' in line:
                calls.append(json.loads(line))
    return stops, calls


async def read_session(node_url: str, chat_url: str) -> tuple[dict, int, list[dict]]:
    """Node a's document and tokens spent, and every chat message, oldest first."""
    async with TextNodeClient(node_url, timeout=30) as node, ChatClient(chat_url, timeout=30) as chat:
        document, budget = await node.document(), await node.budget()
        found, after = [], "0"  # from the first message on
        while page := await chat.messages(after=after, limit=MAX_PAGE):
            found, after = found + [m.model_dump(mode="json") for m in page], page[-1].id
    return document.model_dump(), budget.spent, found


def measure(root: Path, agents: int, budget: int, seed: int, extra: list[str], seconds: float = 600,
            real: bool = False, english: bool = False) -> dict:
    session = start_session(root, budget, seed, real)
    try:
        started = time.perf_counter()
        model = ["--model", MODEL_ALIAS if real else "fake"]
        if english:
            model += ["--language", "en", "--log-level", "debug", "--llm-timeout", "180"]
        stops, call_lines = run_agents(session, root, agents, [*model, *extra], seconds, english)
        wall = time.perf_counter() - started
        node = session["nodes"]["a"].url
        time.sleep(2)  # let replication settle before reading node a
        document, spent, messages = asyncio.run(read_session(node, session["chat"].url))
    finally:
        stop_session(session)
    applied = sum(s["applied"] for s in stops)
    calls = sum(s["llm_calls"] for s in stops)
    overhead_ms = sum(s["busy_ms"] - s["llm_ms"] - s["paused_ms"] for s in stops)
    opened = sum(m["type"] == "edit_intent" for m in messages)
    cancelled = [m for m in messages if m["type"] == "intent_status" and m["status"] == "cancelled"]
    comments = [m["text"] for m in messages if m["type"] == "edit_comment"]
    conflicts = sum(any(c in text for c in CONFLICTS) for text in comments)
    reasons = Counter(re.sub(r"[\w-]+ claimed", "X claimed", text)[:60] for text in comments)
    return {
        "agents_stopped_cleanly": len(stops),
        "versions": document["version"],
        "edits_applied": applied,
        "tokens_spent": spent,
        "edits_per_1000_tokens": round(1000 * applied / spent, 3) if spent else None,
        "tokens_per_edit": round(spent / applied) if applied else None,
        "llm_calls_per_edit": round(calls / applied, 2) if applied else None,
        "cancel_rate": round(len(cancelled) / opened, 3) if opened else None,
        "conflict_rate": round(conflicts / opened, 3) if opened else None,
        "protocol_ms_per_edit_excluding_model": round(overhead_ms / applied, 1) if applied else None,
        "document_chars": len(document["text"]),
        "cancel_reasons": dict(reasons.most_common(8)),
        "wall_seconds": round(wall, 1),
        **(_calls(call_lines) if english else {}),
    }


def _calls(lines: list[dict]) -> dict:
    """What the model calls' log lines say: the form negotiated, the bounds kept."""
    calls = [line for line in lines if line["event"] == "model_call"]
    return {
        "structured_output": sorted({line["form"] for line in lines if line["event"] == "structured_output"}),
        "model_calls": len(calls),
        "calls_over_max_tokens": sum(c["completion_tokens"] > MAX_TOKENS[c["phase"]] for c in calls),
        "replies_cut_at_max_tokens": sum(c["truncated"] for c in calls),
        "most_completion_tokens_by_phase": {
            phase: max(c["completion_tokens"] for c in calls if c["phase"] == phase)
            for phase in sorted({c["phase"] for c in calls})},
        "model_ms_per_call": round(sum(c["ms"] for c in calls) / len(calls)) if calls else None,
        "prompt_tokens_estimated_vs_counted": round(
            sum(c["prompt_tokens_estimated"] for c in calls) / max(1, sum(c["prompt_tokens"] for c in calls)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--budget", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-reference", action="store_true", help="only the shipped agents")
    parser.add_argument("--real", action="store_true",
                        help="the real small model beside the fake one (defaults: 2 agents, budget 15000)")
    parser.add_argument("--seconds", type=float, default=300, help="with --real: stop each run after this")
    args = parser.parse_args()
    if args.real:
        return main_real(args)
    with tempfile.TemporaryDirectory(prefix="bench-agents-") as tmp:
        root = Path(tmp)
        (root / "windowed").mkdir()
        (root / "whole").mkdir()
        windowed = measure(root / "windowed", args.agents, args.budget, args.seed, [])
        whole = None if args.skip_reference else measure(
            root / "whole", args.agents, args.budget, args.seed, ["--context-chars", "1000000"])
    print(json.dumps({
        "setup": {"agents": args.agents, "token_budget": args.budget, "model": "coedit fake-llm",
                  "seed": args.seed, "starting_text": "the seed demo's version 1"},
        "coedit": windowed,
        "reference_seed_demo": SEED_DEMO,
        "reference_whole_document_each_phase": whole,
    }, indent=2, ensure_ascii=False))


def main_real(args) -> None:
    agents = args.agents if args.agents != 10 else 2
    budget = args.budget if args.budget != 300_000 else 15_000
    with tempfile.TemporaryDirectory(prefix="bench-agents-") as tmp:
        root = Path(tmp)
        (root / "real").mkdir()
        (root / "fake").mkdir()
        real = measure(root / "real", agents, budget, args.seed, [], args.seconds, real=True, english=True)
        fake = measure(root / "fake", agents, budget, args.seed, [], args.seconds, english=True)
    print(json.dumps({
        "setup": {"agents": agents, "token_budget": budget, "seconds_at_most": args.seconds,
                  "real_model": f"{MODEL_ALIAS} (SmolLM2-135M-Instruct, llama-cpp-python server)",
                  "seed": args.seed, "starting_text": "the seed demo's version 1, in English"},
        "real_model": real,
        "fake_model_same_setup": fake,
    }, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
