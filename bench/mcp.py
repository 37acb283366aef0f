"""Benchmark of `coedit mcp` (not a test): `python -m bench.mcp [--agents 3] [--edits 25] [--reads 200]`.

Starts a whole session (three text nodes on their own PostgreSQL, chat, analytics)
and the MCP server, then outside agents (the official MCP SDK's client, one each)
work at once, and prints JSON with each figure beside its reference measured in the
same run at the same concurrency:
- read_document tool calls against the text node client's GET /api/document;
- one outside edit (announce_intent + submit_edit: the intent, its confirmation, the
  edit, its operation and applied status, the lease checks) against one bare edit
  through the text node client (the floor of any edit).
The clients run in this process, on the same cores as the servers."""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.agents import TOKEN, start_session, stop_session
from coedit.common.agent_protocol import sentences
from coedit.local.processes import ServiceProcess
from coedit.text_node.client import TextNodesClient
from coedit.text_node.models import EditOp, EditRequest
from coedit.up.config import SEED_TEXT
from coedit.mcp.client import connect


def latency(samples: list[float], seconds: float) -> dict:
    ms = sorted(s * 1000 for s in samples)
    return {"per_s": round(len(ms) / seconds, 1), "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2)}


async def timed_workers(workers, count: int) -> tuple[list[float], float]:
    """Run each worker(n) for n < count, all at once; every call's seconds, and the wall time."""
    samples: list[float] = []

    async def run(worker):
        for n in range(count):
            started = time.perf_counter()
            await worker(n)
            samples.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(run(w) for w in workers))
    return samples, time.perf_counter() - started


async def measure(session: dict, mcp: ServiceProcess, agents: int, edits: int, reads: int) -> dict:
    urls = [node.url for node in session["nodes"].values()]
    anchors = [SEED_TEXT[s:e] for s, e in sentences(SEED_TEXT)][:agents]
    tokens = {f"outside-{i}": f"bench-outside-token-{i:04d}" for i in range(agents)}
    clients = [connect(f"{mcp.url}/mcp", token) for token in tokens.values()]
    sessions = [await client.__aenter__() for client in clients]
    direct = [TextNodesClient(urls, token=TOKEN, start=i) for i in range(agents)]
    try:
        def mcp_read(client):
            async def read(_):
                assert not (await client.call_tool("read_document", {})).is_error
            return read

        def bare_read(client):
            async def read(_):
                await client.document()
            return read

        def mcp_edit(client, anchor, i):
            async def edit(n):
                claim = await client.call_tool("announce_intent", {"anchor": anchor, "summary": f"bench {n}"})
                assert not claim.is_error, claim.content[0].text
                done = await client.call_tool("submit_edit", {
                    "intent_id": claim.structured_content["intent_id"], "type": "insert_after",
                    "anchor": anchor, "text": f" Вставка {i}-{n}."})
                assert not done.is_error, done.content[0].text
            return edit

        def bare_edit(client, i):
            async def edit(n):
                await client.submit(EditRequest(edit_id=f"bare-{i}-{n}", agent_id=f"bare-{i}",
                                                op=EditOp(type="append", text=f" Хвост {i}-{n}.")))
            return edit

        reads_each = max(1, reads // agents)
        figures = {}
        samples, seconds = await timed_workers([mcp_read(s) for s in sessions], reads_each)
        figures["read_document"] = latency(samples, seconds)
        samples, seconds = await timed_workers([bare_read(c) for c in direct], reads_each)
        figures["reference_get_document"] = latency(samples, seconds)
        samples, seconds = await timed_workers(
            [mcp_edit(s, anchor, i) for i, (s, anchor) in enumerate(zip(sessions, anchors))], edits)
        figures["outside_edit"] = latency(samples, seconds)
        samples, seconds = await timed_workers([bare_edit(c, i) for i, c in enumerate(direct)], edits)
        figures["reference_bare_edit"] = latency(samples, seconds)
        figures["edit_cost_ratio_p50"] = round(figures["outside_edit"]["p50_ms"]
                                               / figures["reference_bare_edit"]["p50_ms"], 1)
        return figures
    finally:
        for client in reversed(clients):
            await client.__aexit__(None, None, None)
        for client in direct:
            await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=3, help="at most 3: one seed sentence each")
    parser.add_argument("--edits", type=int, default=25, help="edits per outside agent")
    parser.add_argument("--reads", type=int, default=200, help="read_document calls in all")
    args = parser.parse_args()
    assert 1 <= args.agents <= len(sentences(SEED_TEXT)), "one seed sentence per outside agent"
    root = Path(tempfile.mkdtemp(prefix="coedit-bench-mcp-"))
    session = start_session(root, budget=10**9, seed=1)
    tokens = ",".join(f"outside-{i}=bench-outside-token-{i:04d}" for i in range(args.agents))
    mcp = ServiceProcess("mcp", [
        "--text-nodes", ",".join(node.url for node in session["nodes"].values()),
        "--chat-url", session["chat"].url, "--analytics-url", session["analytics"].url,
        "--auth-token", TOKEN, "--writes-per-minute", "100000", "--log-level", "warning"],
        root, env={"COEDIT_MCP_TOKENS": tokens})
    try:
        mcp.start(timeout=120)
        figures = asyncio.run(measure(session, mcp, args.agents, args.edits, args.reads))
        print(json.dumps({"agents": args.agents, "edits_per_agent": args.edits, **figures}, indent=2))
    finally:
        mcp.stop()
        stop_session(session)


if __name__ == "__main__":
    main()
