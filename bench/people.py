"""Benchmark of people co-editing (not a test).

    python -m bench.people [--seconds N] [--long-chars N]

Keystroke latency, p50/p99, from a person's Yjs client (npm yjs in Node) to another
person's client connected to a different text node, and to every node's
`GET /api/document` (a marker typed as one keystroke, then each node polled every
25 ms until its text holds it: the resolution is one GET plus 25 ms), with 5 people typing (a character every
~150 ms each, at a place of their own) and 5 agent writers (anchored appends through
the text node's client, one every second each), on a fresh document and on a long
one (250,000 characters, pasted in 1,000-character pieces at random places). coedit
commits every keystroke to its PostgreSQL (fsync on) before anyone sees it and pushes
it to the peers.

The reference, in the same run, is the same Node clients (@hocuspocus/provider in place
of y-websocket) against one Hocuspocus server with its Database extension storing into
PostgreSQL (debounced: 2 s after a document's last change; its SQLite extension needs
better-sqlite3, a native build that did not finish here): its agent writers are Yjs
clients appending at the same rate. Prints JSON; target p99 < 100 ms for coedit."""

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.text_nodes import Cluster, TOKEN, percentile
from coedit.local.servers import PostgresServer, free_port
from coedit.text_node.client import TextNodeClient
from coedit.text_node.models import EditOp, EditRequest

HERE = Path(__file__).with_name("people_js")
PEOPLE, AGENTS = 5, 5
KEYSTROKE_MS = 150
AGENT_EVERY_MS = 1000
PROBE_EVERY_MS = 250
POLL_MS = 25  # between a probe's GETs of one node (polling flat out would load the nodes)


def install() -> None:
    """`npm ci` from the bench's own lockfile (Hocuspocus stays out of the tests' install)."""
    if (HERE / "node_modules" / "@hocuspocus" / "server").is_dir():
        return
    if shutil.which("npm") is None:
        raise SystemExit("this benchmark needs Node 20+ and npm")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=1800,
                   stdout=subprocess.DEVNULL)


def summary(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    return {"count": len(values), "p50_ms": round(percentile(values, 0.5), 1),
            "p99_ms": round(percentile(values, 0.99), 1), "max_ms": round(max(values), 1)}


def drive(config: dict, seconds: float) -> dict:
    """Run the Node clients (people.mjs) with `config`; their measurements."""
    answer = subprocess.run(["node", str(HERE / "people.mjs"), json.dumps(config)], cwd=HERE, capture_output=True,
                            text=True, timeout=seconds + 300)
    if answer.returncode != 0:
        raise RuntimeError(f"people.mjs failed: {answer.stderr[-2000:]}")
    return json.loads(answer.stdout.strip().splitlines()[-1])


def figures(measured: dict) -> dict:
    probes = measured["to_nodes_ms"]
    result = {"to_other_client": summary(measured["to_client_ms"]), "keystrokes": measured["keystrokes"],
              "unanswered": measured["unanswered"], "length": measured["length"]}
    if probes:
        result["to_all_nodes"] = summary([max(p) for p in probes if None not in p])
        result["to_each_node"] = summary([t for p in probes for t in p if t is not None])
        result["probes_unseen"] = sum(None in p for p in probes)
    return result


async def agents_writing(urls: list[str], stop: asyncio.Event) -> int:
    """Agent-like writers: an anchored append every AGENT_EVERY_MS each, through the client."""
    written = 0

    async def writer(w: int, node: TextNodeClient) -> None:
        nonlocal written
        for i in range(1_000_000):
            if stop.is_set():
                return
            await node.submit(EditRequest(edit_id=f"bench-{uuid.uuid4().hex}", agent_id=f"agent-{w}",
                                        op=EditOp(type="append", text=f" Предложение {w}.{i} 🤖.")))
            written += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), AGENT_EVERY_MS / 1000)

    async with httpx.AsyncClient(timeout=30) as http:
        nodes = [TextNodeClient(urls[w % len(urls)], http=http, token=TOKEN) for w in range(AGENTS)]
        await asyncio.gather(*(writer(w, node) for w, node in enumerate(nodes)))
    return written


async def coedit_run(base: Path, seconds: float, initial_chars: int) -> dict:
    cluster = Cluster(base)
    try:
        urls = cluster.urls()
        config = {"target": "coedit", "servers": [url.replace("http", "ws") for url in urls],
                  "documents": [f"{url}/api/document" for url in urls], "token": TOKEN, "people": PEOPLE,
                  "agents": 0, "seconds": seconds, "keystrokeMs": KEYSTROKE_MS, "initialChars": initial_chars,
                  "agentEveryMs": AGENT_EVERY_MS, "probeEveryMs": PROBE_EVERY_MS, "pollMs": POLL_MS}
        stop = asyncio.Event()
        # the agents start with the clients: on the long document while it is pasted, as people would be
        agents = asyncio.create_task(agents_writing(urls, stop))
        try:
            measured = await asyncio.to_thread(drive, config, seconds)
        finally:
            stop.set()
        return {**figures(measured), "agent_edits": await agents}
    finally:
        cluster.stop()


def hocuspocus_run(base: Path, seconds: float, initial_chars: int) -> dict:
    database = PostgresServer(base / "pg-hocuspocus").start()
    port = free_port()
    server = subprocess.Popen(["node", str(HERE / "hocuspocus.mjs"), str(port), database.url, TOKEN], cwd=HERE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(server.stdout.readline())["ready"]
        config = {"target": "hocuspocus", "servers": [f"ws://127.0.0.1:{port}"] * 3, "documents": [],
                  "token": TOKEN, "people": PEOPLE, "agents": AGENTS, "seconds": seconds,
                  "keystrokeMs": KEYSTROKE_MS, "initialChars": initial_chars, "agentEveryMs": AGENT_EVERY_MS,
                  "probeEveryMs": PROBE_EVERY_MS, "pollMs": POLL_MS}
        return figures(drive(config, seconds))
    finally:
        server.terminate()
        server.wait(timeout=10)
        database.stop()


async def main(seconds: float, long_chars: int) -> dict:
    install()
    results: dict = {"people": PEOPLE, "agents": AGENTS, "keystroke_ms": KEYSTROKE_MS, "seconds": seconds,
                     "target_p99_ms": 100}
    for label, chars in (("fresh", 0), ("long", long_chars)):
        with tempfile.TemporaryDirectory(prefix="coedit-bench-people-") as tmp:
            started = time.perf_counter()
            (Path(tmp) / "coedit").mkdir()
            coedit = await coedit_run(Path(tmp) / "coedit", seconds, chars)
            reference = await asyncio.to_thread(hocuspocus_run, Path(tmp), seconds, chars)
        results[label] = {"coedit": coedit, "hocuspocus_postgresql": reference,
                          "wall_seconds": round(time.perf_counter() - started, 1)}
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="typing time per run")
    parser.add_argument("--long-chars", type=int, default=250_000, help="the long document's length")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.seconds, args.long_chars)), indent=2))
