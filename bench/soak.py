"""Soak benchmark (not a test): `python -m bench.soak --minutes N [--writers W] [--posters P]`.

Starts three text nodes (each on its own PostgreSQL, fsync on), Redis and the chat,
then for N minutes W writers edit the nodes and P posters post to the chat, each
at a steady pace, on loopback. Prints JSON: edits/s and messages/s beside the rate
offered, p50/p99 latency beside `GET /healthz` on the same processes sampled during
the run (the HTTP stack alone), the error rate, and each server's memory (RSS; PSS
for a PostgreSQL and its backends) at every interval, with its growth per hour
after the warm-up (least squares) beside its size when the warm-up ended and its
change over `--idle` seconds with no load at the end; for the text nodes also beside
what their document alone holds per edit (`bench.crdt_memory`: the nodes' logs replayed
into a bare document in a fresh process).

Writers replace a mark of their own in place (`[wN:k]` -> `[wN:k+1]`), each on one
node, so the document keeps its size and only the history grows, as in a long
session; chat messages are capped by the stream's MAXLEN."""

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

from bench.chat import comment, percentile
from bench.text_nodes import AUTH, TOKEN_ENV, Cluster
from coedit.chat.client import MESSAGES_PATH
from coedit.local.processes import ServiceProcess
from coedit.local.servers import RedisServer
from coedit.text_node.client import EDITS_PATH


def memory_mib(pid: int, tree: bool) -> float:
    """RSS of one process, or PSS summed over a process tree (shared pages counted once)."""
    root = psutil.Process(pid)
    if not tree:
        return root.memory_info().rss / 2**20
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_full_info().pss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def peaks(samples: list[tuple[float, float]], drop: float = 1.0) -> list[tuple[float, float]]:
    """The samples just before memory fell by `drop` MiB or more: a text node's
    memory saw-tooths, rising with the edits of a document generation and falling
    when the nodes start the next; flat means its peaks do not rise."""
    return [a for a, b in zip(samples, samples[1:]) if a[1] - b[1] >= drop]


def growth_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB), in MiB per hour."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    return sum((t - mean_t) * (m - mean_m) for t, m in samples) / var * 3600 if var else 0.0


class Load:
    def __init__(self):
        self.latencies: dict[str, list[float]] = {"edit": [], "message": [], "healthz": []}
        self.errors: dict[str, int] = {"edit": 0, "message": 0, "healthz": 0}
        self.measuring = False  # after the warm-up

    async def timed(self, kind: str, session: aiohttp.ClientSession, method: str, url: str, **kw) -> bool:
        started = time.perf_counter()
        try:
            async with session.request(method, url, **kw) as answer:
                await answer.read()
                ok = answer.status < 300
        except (aiohttp.ClientError, asyncio.TimeoutError):
            ok = False
        if self.measuring:
            if ok:
                self.latencies[kind].append(time.perf_counter() - started)
            else:
                self.errors[kind] += 1
        return ok


async def writer(load: Load, session, url: str, number: int, pace: float, until: float) -> None:
    mark = 0
    while time.monotonic() < until:
        body = {"edit_id": f"soak-{number}-{mark}", "agent_id": f"w{number}",
                "op": {"type": "replace", "anchor": f"[w{number}:{mark}]", "text": f"[w{number}:{mark + 1}]"}}
        if await load.timed("edit", session, "POST", url + EDITS_PATH, json=body):
            mark += 1
        await asyncio.sleep(pace)


async def poster(load: Load, session, url: str, number: int, pace: float, until: float) -> None:
    n = 0
    while time.monotonic() < until:
        await load.timed("message", session, "POST", url + MESSAGES_PATH, json=comment(number * 10**6 + n))
        n += 1
        await asyncio.sleep(pace)


async def prober(load: Load, session, urls: list[str], until: float) -> None:
    while time.monotonic() < until:
        for url in urls:
            await load.timed("healthz", session, "GET", url + "/healthz")
        await asyncio.sleep(0.5)


async def logs(session, urls: list[str]) -> list[dict]:
    """Every node's own records of the first document generation, interleaved by their
    position in each log (the order they were written in, roughly), as the reference
    replays them: what a node that never restarted its document would hold."""
    keyed = []
    for url in urls:
        own, after = [], 0
        while True:
            async with session.get(url + "/internal/log", params={"after": after, "limit": 5000}) as answer:
                page = await answer.json()
            own += [record for record in page["records"] if record.get("generation", 0) == 0]
            if not page["records"] or page["records"][-1].get("generation", 0):
                break
            after = page["records"][-1]["seq"]
        keyed += [((i + 1) / len(own), record) for i, record in enumerate(own)]
    return [record for _, record in sorted(keyed, key=lambda pair: pair[0])]


def document_alone(records: list[dict], initial_text: str, base: Path) -> dict:
    """`bench.crdt_memory` on these records, in a process of its own."""
    (base / "records.json").write_text(json.dumps(records))
    (base / "initial.txt").write_text(initial_text)
    out = subprocess.run([sys.executable, "-m", "bench.crdt_memory", str(base / "records.json"),
                          str(base / "initial.txt")], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def summary(samples: list[float], errors: int, seconds: float) -> dict:
    ms = [s * 1000 for s in samples]
    return {"per_s": round(len(ms) / seconds, 1), "p50_ms": round(percentile(ms, 50), 2) if ms else None,
            "p99_ms": round(percentile(ms, 99), 2) if ms else None,
            "error_rate": round(errors / max(1, errors + len(ms)), 5)}


async def soak(cluster: Cluster, chat: ServiceProcess, servers: dict, args) -> dict:
    load = Load()
    started = time.monotonic()
    until = started + args.minutes * 60
    warmup_end = started + args.warmup
    memory: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
    urls = cluster.urls()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(headers=AUTH, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:
        tasks = [asyncio.create_task(writer(load, session, urls[w % 3], w, args.pace, until)) for w in range(args.writers)]
        tasks += [asyncio.create_task(poster(load, session, chat.url, p, args.pace, until)) for p in range(args.posters)]
        tasks.append(asyncio.create_task(prober(load, session, [*urls, chat.url], until)))
        while time.monotonic() < until:
            now = time.monotonic()
            if not load.measuring and now >= warmup_end:
                load.measuring, measured_from = True, now
            for name, (pid, tree) in servers.items():
                memory[name].append((round(now - started, 1), round(memory_mib(pid, tree), 1)))
            await asyncio.sleep(min(args.interval, max(0.1, until - time.monotonic())))
        await asyncio.gather(*tasks)
    seconds = time.monotonic() - measured_from
    idle: dict[str, list[float]] = {name: [] for name in servers}  # the reference: no load at all
    for _ in range(2):
        for name, (pid, tree) in servers.items():
            idle[name].append(round(memory_mib(pid, tree), 1))
        await asyncio.sleep(args.idle)
    async with aiohttp.ClientSession(headers=AUTH) as session:  # after the idle reference: serving it allocates
        records = await logs(session, urls)
        generations = {}
        for name, url in zip(cluster.nodes, urls):
            async with session.get(url + "/api/replication") as answer:
                generations[f"text-{name}"] = (await answer.json())["generation"]
    offered = {"edit": args.writers / args.pace, "message": args.posters / args.pace}
    figures = {kind: {**summary(load.latencies[kind], load.errors[kind], seconds),
                      **({"offered_per_s_at_most": round(offered[kind], 1)} if kind in offered else {})}
               for kind in load.latencies}
    after = {name: [(t, m) for t, m in points if t >= args.warmup] for name, points in memory.items()}
    edits_per_hour = figures["edit"]["per_s"] * 3600

    def growth(name: str) -> dict:
        per_hour = growth_per_hour(after[name])
        # a text node holds every edit's metadata in its document: it grows with edits, not with time
        per_edit = {"growth_kib_per_edit": round(per_hour * 1024 / edits_per_hour, 2)} if name.startswith("text-") and edits_per_hour else {}
        idle_change = idle[name][-1] - idle[name][0]
        tops = peaks(after[name]) if name.startswith("text-") else []
        sawtooth = {"peaks_mib": [m for _, m in tops],
                    "growth_of_peaks_mib_per_hour": round(growth_per_hour(tops), 1)} if len(tops) >= 2 else {}
        return {"growth_mib_per_hour_after_warmup": round(per_hour, 1), **per_edit, **sawtooth,
                f"reference_change_mib_idle_{args.idle:g}s_after": round(idle_change, 1)}

    return {
        "edits": figures["edit"], "messages": figures["message"], "document_generations_at_end": generations,
        "reference_document_alone": document_alone(records, cluster.initial_text, cluster.base),
        "reference_healthz_same_processes": figures["healthz"],
        "memory_mib": {
            name: {"at_warmup_end": after[name][0][1] if after[name] else None,
                   "at_end": points[-1][1],
                   # a text node's memory saw-tooths with its document generations: its range
                   "range_after_warmup": [min(m for _, m in after[name]), max(m for _, m in after[name])]
                   if after[name] else None,
                   **growth(name), "samples": points}
            for name, points in memory.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--writers", type=int, default=12)
    parser.add_argument("--posters", type=int, default=6)
    parser.add_argument("--pace", type=float, default=0.1, help="seconds each client waits between requests")
    parser.add_argument("--warmup", type=float, default=30, help="seconds not measured at the start")
    parser.add_argument("--interval", type=float, default=10, help="seconds between memory samples")
    parser.add_argument("--idle", type=float, default=20, help="seconds of no load at the end (memory's reference)")
    parser.add_argument("--generation-edits", type=int, default=None,
                        help="the text nodes' --generation-edits (default: theirs)")
    args = parser.parse_args()
    if args.minutes * 60 <= args.warmup:
        parser.error("--minutes must be longer than --warmup")
    base = Path(tempfile.mkdtemp(prefix="coedit-soak-"))
    initial = " ".join(f"[w{w}:0]" for w in range(args.writers))
    generations = () if args.generation_edits is None else ("--generation-edits", str(args.generation_edits))
    cluster = Cluster(base, initial_text=initial, extra_args=generations)
    redis = RedisServer(base / "redis").start()
    chat = ServiceProcess("chat", ["--redis-url", redis.url, "--log-level", "warning"],
                          base, name="chat", env=TOKEN_ENV).start()
    try:
        servers = {f"text-{n}": (node.process.pid, False) for n, node in cluster.nodes.items()}
        servers |= {f"postgres-{n}": (db.process.pid, True) for n, db in cluster.databases.items()}
        servers |= {"chat": (chat.process.pid, False), "redis": (redis.process.pid, False)}
        result = asyncio.run(soak(cluster, chat, servers, args))
    finally:
        chat.stop()
        redis.stop()
        cluster.stop()
    print(json.dumps({"minutes": args.minutes, "writers": args.writers, "posters": args.posters,
                      "pace_s": args.pace, "warmup_s": args.warmup, "generation_edits": args.generation_edits,
                      **result}, indent=1))


if __name__ == "__main__":
    main()
