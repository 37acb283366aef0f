"""Benchmark of `coedit up` and the pages it serves (not a test).

    python -m bench.up [--versions 10000] [--messages 1000] [--rounds 5]

Prints JSON:
- seconds from `coedit up` to ready (every /readyz answering), on a fresh data
  directory (initdb of four PostgreSQL clusters included) and on a restart of the
  same directory, against the same run's floor: one bare `coedit fake-llm` process
  to /readyz and one PostgreSQL cluster initialised and started (target: under 15 s);
- with `--versions` edits and `--messages` chat messages seeded through the public
  APIs, the load time of each web page (median and worst of `--rounds` GETs of the
  whole HTML), against `GET /api/document` on a text node in the same session
  (target: under 1 s). Without a web UI in the build the pages are skipped."""

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from coedit.chat.client import ChatClient
from coedit.chat.models import EditComment
from coedit.local.processes import ServiceProcess
from coedit.local.servers import PostgresServer, free_port
from coedit.text_node.client import TextNodeClient
from coedit.text_node.models import EditOp, EditRequest
from coedit.up.components import PORT_OFFSETS
from coedit.up.state import load_state

PAGES = ["/", "/document", "/chat", "/analytics"]


def start_up(data_dir: Path, port: int) -> tuple[subprocess.Popen, float]:
    """`coedit up` with no agents; seconds until its state says ready."""
    started = time.perf_counter()
    up = subprocess.Popen(
        [sys.executable, "-m", "coedit", "up", "--data-dir", str(data_dir), "--port", str(port),
         "--agents", "0", "--budget", str(10**9)],
        stdout=open(data_dir.parent / f"up-{data_dir.name}.log", "a"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    while not ((state := load_state(data_dir)) and state.ready):
        if up.poll() is not None:
            raise RuntimeError(f"coedit up exited {up.returncode}; see {data_dir.parent}")
        time.sleep(0.05)
    return up, time.perf_counter() - started


def stop_up(up: subprocess.Popen) -> None:
    os.killpg(up.pid, signal.SIGINT)
    up.wait(120)


def reference_floor(root: Path) -> dict:
    started = time.perf_counter()
    model = ServiceProcess("fake-llm", ["--insecure-no-auth"], root).start(timeout=120)
    process_s = time.perf_counter() - started
    model.stop()
    started = time.perf_counter()
    server = PostgresServer(root / "pg-reference").start()
    postgres_s = time.perf_counter() - started
    server.stop()
    return {"one_service_process_to_ready_s": round(process_s, 2),
            "one_postgres_initdb_and_start_s": round(postgres_s, 2)}


async def seed(state, versions: int, messages: int, concurrency: int = 16) -> dict:
    async with httpx.AsyncClient(timeout=60) as http:
        shared = {"http": http, "token": state.auth_token}
        nodes = [TextNodeClient(c.url, **shared) for c in state.components if c.name.startswith("text-")]
        chat = ChatClient(state.component("chat").url, **shared)

        async def edit(n: int):
            await nodes[n % 3].submit(EditRequest(
                edit_id=f"bench-{n}", agent_id=f"agent-{n % 10}", summary=f"bench {n}",
                op=EditOp(type="append", text=f" Предложение {n}.")))

        async def message(n: int):
            await chat.post(EditComment(agent_id=f"agent-{n % 10}", message_id=f"bench-{n}",
                                        text=f"сообщение {n} <b>не жирное</b>"))

        started = time.perf_counter()
        await workers(versions, concurrency, edit)
        edits_s = time.perf_counter() - started
        await workers(messages, concurrency, message)
        while min([(await node.document()).version for node in nodes]) < versions:
            await asyncio.sleep(0.5)  # the pages may read any node: let them converge
    return {"versions": versions, "messages": messages, "edits_per_s": round(versions / edits_s)}


async def workers(count: int, concurrency: int, one) -> None:
    numbers = iter(range(count))

    async def worker():
        for n in numbers:
            await one(n)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def timings(fetch, rounds: int) -> dict:
    """`fetch()` `rounds` times, one after another."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await fetch()
        samples.append(time.perf_counter() - started)
    return {"median_ms": round(statistics.median(samples) * 1000, 1),
            "max_ms": round(max(samples) * 1000, 1)}


async def time_reads(node_url: str, web_url: str | None, rounds: int) -> tuple[dict, dict]:
    """A text node's `document()` (the reference: the data behind the pages), then
    each page of the web UI as a browser would ask for it."""
    async with TextNodeClient(node_url, timeout=60) as node, httpx.AsyncClient(timeout=60) as http:
        reference = await timings(node.document, rounds)
        pages = {}
        for page in PAGES if web_url else []:
            async def get(page=page):
                (await http.get(web_url + page)).raise_for_status()
            pages[page] = await timings(get, rounds)
    return reference, pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-up-") as tmp:
        root = Path(tmp)
        result = {"reference": reference_floor(root)}
        data_dir, port = root / "session", free_port(span=max(PORT_OFFSETS.values()) + 1)
        up, fresh = start_up(data_dir, port)
        stop_up(up)
        up, restart = start_up(data_dir, port)
        result["up_to_ready_s"] = {"fresh_data_dir": round(fresh, 2), "restart": round(restart, 2),
                                   "target": 15}
        try:
            state = load_state(data_dir)
            result["seeded"] = asyncio.run(seed(state, args.versions, args.messages))
            result["reference"]["api_document_ms"], pages = asyncio.run(
                time_reads(state.component("text-a").url, state.web_url, args.rounds))
            if state.web_url:
                result["pages"] = {**pages, "target_ms": 1000}
            else:
                result["pages"] = "skipped: no web UI in this build"
        finally:
            stop_up(up)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
