"""Benchmark of the agents (not a test).

    python -m bench.agents [--agents 10] [--budget 300000] [--seed 1]

Starts a whole session (three text nodes on their own PostgreSQL, the chat on Redis,
analytics on PostgreSQL, the fake model with a fixed seed) from the seed demo's
starting text, runs the agents until the token budget is spent, and prints JSON:
versions produced, edits applied per 1,000 tokens, tokens and LLM calls per applied
edit, cancel and conflict rates, and the protocol's own time per edit (agent wall
time minus model time). Each figure stands beside two references: the seed demo's
(31 versions, 4 calls per edit; at most 4,000 tokens per edit asked) and, measured
in the same run, the same agents shown the whole document in every phase."""

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from coedit.chat.client import MAX_PAGE, ChatClient
from coedit.local.processes import ServiceProcess
from coedit.local.servers import PostgresServer, RedisServer
from coedit.text_node.client import TextNodeClient
from coedit.up.session_file import SEED_TEXT
from coedit.up.session_file import SEED_TOPIC as TOPIC

TOKEN = "bench-token"
SEED_DEMO = {"versions": 31, "llm_calls_per_edit": 4, "max_tokens_per_edit": 4000}
CONFLICTS = ("claimed this place first", "anchor", "already in the document")


def start_session(root: Path, budget: int, seed: int) -> dict:
    servers, services = [], []
    databases = [PostgresServer(root / f"pg-{n}", fsync=False).start() for n in ("a", "b", "c", "an")]
    redis = RedisServer(root / "redis").start()
    servers += [*databases, redis]
    nodes = {n: ServiceProcess("text-node", [], root, name=f"text-{n}") for n in "abc"}
    for (name, node), db in zip(nodes.items(), databases):
        peers = ",".join(other.url for other_name, other in nodes.items() if other_name != name)
        node.args = ["--node-id", name, "--database-url", db.url, "--peers", peers,
                     "--token-budget", str(budget), "--auth-token", TOKEN, "--initial-text", SEED_TEXT]
    chat = ServiceProcess("chat", ["--redis-url", redis.url, "--auth-token", TOKEN], root)
    analytics = ServiceProcess("analytics", ["--database-url", databases[3].url, "--auth-token", TOKEN], root)
    model = ServiceProcess("fake-llm", ["--seed", str(seed)], root)
    services = [*nodes.values(), chat, analytics, model]
    for service in services:
        service.start(wait_ready=False)
    for service in services:
        service.wait_ready(120)
    return {"nodes": nodes, "chat": chat, "analytics": analytics, "model": model,
            "servers": servers, "services": services}


def stop_session(session: dict) -> None:
    for service in session["services"]:
        service.stop()
    for server in session["servers"]:
        server.stop()


def run_agents(session: dict, root: Path, count: int, extra: list[str]) -> list[dict]:
    """Start the agents together, wait for all, return each one's stop log line."""
    nodes = ",".join(node.url for node in session["nodes"].values())
    processes = []
    for n in range(count):
        log = open(root / f"agent-{n}.log", "wb")
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "coedit", "agent", "--agent-id", f"agent-{n}",
             "--persona", ["сюжетник", "стилист", "редактор"][n % 3], "--topic", TOPIC,
             "--text-nodes", nodes, "--chat-url", session["chat"].url,
             "--analytics-url", session["analytics"].url, "--auth-token", TOKEN,
             "--llm-base-url", f"{session['model'].url}/v1", "--model", "fake", *extra],
            stdout=log, stderr=subprocess.STDOUT,
        ))
    for process in processes:
        process.wait(600)
    stops = []
    for n in range(count):
        for line in (root / f"agent-{n}.log").read_text().splitlines():
            if '"agent_stopped"' in line and '"busy_ms"' in line:
                stops.append(json.loads(line))
    return stops


async def read_session(node_url: str, chat_url: str) -> tuple[dict, int, list[dict]]:
    """Node a's document and tokens spent, and every chat message, oldest first."""
    async with TextNodeClient(node_url, timeout=30) as node, ChatClient(chat_url, timeout=30) as chat:
        document, budget = await node.document(), await node.budget()
        found, after = [], "0"  # from the first message on
        while page := await chat.messages(after=after, limit=MAX_PAGE):
            found, after = found + [m.model_dump(mode="json") for m in page], page[-1].id
    return document.model_dump(), budget.spent, found


def measure(root: Path, agents: int, budget: int, seed: int, extra: list[str]) -> dict:
    session = start_session(root, budget, seed)
    try:
        started = time.perf_counter()
        stops = run_agents(session, root, agents, extra)
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--budget", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-reference", action="store_true", help="only the shipped agents")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
