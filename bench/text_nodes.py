"""Benchmark of the replicated text service (not a test).

    python -m bench.text_nodes [--quick]

Starts three text nodes, each on its own PostgreSQL (fsync on, as in production),
and prints JSON: cluster throughput (edits acknowledged and replicated to all three),
latency at 1, 10 and 50 concurrent writers, catch-up of 10,000 missed edits, time
to serve versions of a 10,000-edit history, budget overshoot under a concurrent
burst, and two references measured in the same run, with the ratios: PostgreSQL's
own single-row insert commit rate from 1 and 10 clients (pgbench), and the rate of
three processes answering the same edit requests with nothing behind them
(bench.noop_node: what the HTTP stack alone allows)."""

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from coedit.local.processes import ServiceProcess
from coedit.local.servers import PostgresServer, free_port, postgres_bindir
from coedit.text_node.client import EDITS_PATH, BudgetExhausted, TextNodeClient
from coedit.text_node.models import SpendRequest

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TOKEN_ENV = {"COEDIT_AUTH_TOKEN": TOKEN}  # a secret goes by environment, never as a flag (`ps` shows flags)
INITIAL = "Документ начинается здесь."


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def tree_cpu_seconds(pid: int) -> float:
    """CPU time so far of a process and all its children."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def pgbench_rate(server: PostgresServer, clients: int, seconds: int) -> float:
    """Single-row INSERT commits per second, the way pgbench measures them."""
    bindir = postgres_bindir()
    subprocess.run([str(bindir / "psql"), server.url, "-qc",
                    "CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, payload text)"],
                   check=True, capture_output=True)
    script = Path(tempfile.mkstemp(suffix=".sql")[1])
    script.write_text("INSERT INTO bench_rows (payload) VALUES ('one edit worth of text');\n")
    out = subprocess.run(
        [str(bindir / "pgbench"), "-n", "-f", str(script), "-c", str(clients), "-j", str(min(clients, 2)),
         "-T", str(seconds), server.url], check=True, capture_output=True, text=True,
    ).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


class NoopNode(ServiceProcess):
    def argv(self) -> list[str]:
        return [sys.executable, str(Path(__file__).with_name("noop_node.py")), "--port", str(self.port),
                "--log-level", "warning"]


async def http_floor(base: Path, writers: int, edits: int) -> dict:
    """The load generator's rate against three bench.noop_node processes, and their
    CPU per request: the floor under any text node behind the same stack."""
    nodes = [NoopNode("noop-node", [], base, name=f"noop-{n}", env=TOKEN_ENV).start(wait_ready=False) for n in "abc"]
    try:
        for node in nodes:
            node.wait_ready()
        urls = [node.url for node in nodes]
        await write_load(urls, writers, 20, "warm")
        cpu_before = sum(tree_cpu_seconds(n.process.pid) for n in nodes)
        started = time.perf_counter()
        latencies = await write_load(urls, writers, edits // writers, "floor")
        elapsed = time.perf_counter() - started
        cpu = sum(tree_cpu_seconds(n.process.pid) for n in nodes) - cpu_before
    finally:
        for node in nodes:
            node.stop()
    return {"writers": writers, "requests_per_s": round(len(latencies) / elapsed, 1),
            "latency_ms_p50": round(percentile(latencies, 0.5) * 1000, 2),
            "server_cpu_ms_per_request": round(cpu / len(latencies) * 1000, 3)}


class Cluster:
    def __init__(self, base: Path, token_budget: int = 10**12, initial_text: str = INITIAL,
                 extra_args: tuple[str, ...] = ()):
        self.base, self.initial_text = base, initial_text
        names = ["a", "b", "c"]
        self.databases = {n: PostgresServer(base / f"pg-{n}").start() for n in names}
        ports = {n: free_port() for n in names}
        self.nodes = {
            n: ServiceProcess(
                "text-node",
                ["--node-id", n, "--database-url", self.databases[n].url,
                 "--peers", ",".join(f"http://127.0.0.1:{ports[p]}" for p in names if p != n),
                 "--token-budget", str(token_budget),
                 "--initial-text", initial_text, "--log-level", "warning", *extra_args],
                base, name=f"text-{n}", port=ports[n], env=TOKEN_ENV,
            )
            for n in names
        }
        for node in self.nodes.values():
            node.start(wait_ready=False)
        for node in self.nodes.values():
            node.wait_ready()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time so far of the text nodes, their PostgreSQL servers (with every
        backend) and this process (the load generator)."""
        return {
            "text_nodes": sum(tree_cpu_seconds(node.process.pid) for node in self.nodes.values()),
            "postgres": sum(tree_cpu_seconds(database.process.pid) for database in self.databases.values()),
            "load_generator": tree_cpu_seconds(os.getpid()) - sum(
                tree_cpu_seconds(p.pid) for p in [*(n.process for n in self.nodes.values()),
                                      *(d.process for d in self.databases.values())]
            ),
        }

    def urls(self, names: str = "abc") -> list[str]:
        return [self.nodes[n].url for n in names]

    def client(self, name: str, http: httpx.AsyncClient) -> TextNodeClient:
        return TextNodeClient(self.nodes[name].url, http=http, token=TOKEN)

    async def versions(self, http: httpx.AsyncClient) -> dict[str, int]:
        answers = await asyncio.gather(*(self.client(n, http).document() for n in self.nodes))
        return {name: a.version for name, a in zip(self.nodes, answers)}

    async def commit_totals(self, client: httpx.AsyncClient) -> tuple[float, float]:
        """(group commits, records committed) so far, the three nodes together."""
        commits = records = 0.0
        for name in self.nodes:
            exposition = await self.client(name, client).metrics()
            for family in text_string_to_metric_families(exposition):
                if family.name == "coedit_text_group_commit_records":
                    for sample in family.samples:
                        if sample.name.endswith("_count"):
                            commits += sample.value
                        elif sample.name.endswith("_sum"):
                            records += sample.value
        return commits, records

    async def wait_all_at(self, client: httpx.AsyncClient, version: int, names: str = "abc") -> float:
        while True:
            answers = await asyncio.gather(*(self.client(n, client).document() for n in names))
            if all(a.version >= version for a in answers):
                return time.perf_counter()
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()
        for database in self.databases.values():
            database.stop()


async def write_load(urls: list[str], writers: int, edits_per_writer: int, prefix: str) -> list[float]:
    """`writers` concurrent agents, each sending edits one after another to the nodes
    in turn. aiohttp rather than httpx (so not the text node client, which is httpx):
    at 50 concurrent requests httpx's own pool cost more CPU than the server
    (measured), and the figure would be the client's."""
    latencies: list[float] = []

    async def writer(w: int, session: aiohttp.ClientSession) -> None:
        for i in range(edits_per_writer):
            body = {"edit_id": f"{prefix}-{w}-{i}", "agent_id": f"agent-{w}",
                    "op": {"type": "append", "text": f" Предложение {w}.{i} 🤖."}}
            started = time.perf_counter()
            async with session.post(urls[(w + i) % len(urls)] + EDITS_PATH, json=body) as answer:
                answer.raise_for_status()
                await answer.read()
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(headers=AUTH, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(writer(w, session) for w in range(writers)))
    return latencies


async def throughput_and_latency(cluster: Cluster, writers: int, edits: int, start_version: int) -> dict:
    async with httpx.AsyncClient(timeout=60) as client:
        commits_before, records_before = await cluster.commit_totals(client)
        cpu_before, started = cluster.cpu_seconds(), time.perf_counter()
        latencies = await write_load(cluster.urls(), writers, edits // writers, f"t{writers}")
        acknowledged = time.perf_counter()
        replicated = await cluster.wait_all_at(client, start_version + len(latencies))
        cpu = {k: v - cpu_before[k] for k, v in cluster.cpu_seconds().items()}
        commits, records = await cluster.commit_totals(client)
    return {
        "writers": writers,
        "edits": len(latencies),
        "acknowledged_per_s": round(len(latencies) / (acknowledged - started), 1),
        "replicated_to_all_per_s": round(len(latencies) / (replicated - started), 1),
        "latency_ms_p50": round(percentile(latencies, 0.5) * 1000, 2),
        "latency_ms_p99": round(percentile(latencies, 0.99) * 1000, 2),
        # group commit at work: records (own edits and peers') per PostgreSQL commit
        "records_per_commit": round((records - records_before) / max(commits - commits_before, 1), 1),
        # where the machine's CPU went, per edit (all three nodes together)
        "cpu_ms_per_edit": {k: round(v / len(latencies) * 1000, 3) for k, v in cpu.items()},
    }


async def catch_up(cluster: Cluster, missed: int, version: int) -> dict:
    cluster.nodes["b"].kill()
    await write_load(cluster.urls("ac"), 20, missed // 20, "missed")
    target = version + missed
    async with httpx.AsyncClient(timeout=60) as client:
        await cluster.wait_all_at(client, target, "ac")
        started = time.perf_counter()
        cluster.nodes["b"].start(wait_ready=False)
        await asyncio.to_thread(cluster.nodes["b"].wait_ready, 120)
        ready = time.perf_counter()
        caught_up = await cluster.wait_all_at(client, target, "b")
        # the texts of the missed versions are computed after the catch-up (history builder)
        while not (await cluster.client("b", client).replication()).history_complete:
            await asyncio.sleep(0.05)
        history_complete = time.perf_counter()
    return {"missed_edits": missed, "seconds_from_restart_to_ready": round(ready - started, 2),
            "seconds_from_restart_to_all_edits": round(caught_up - started, 2), "target_seconds": 3,
            "seconds_from_restart_to_history_complete": round(history_complete - started, 2)}


async def history_reads(cluster: Cluster, samples: int) -> dict:
    async with httpx.AsyncClient(timeout=60) as client:
        version = (await cluster.versions(client))["a"]
        latencies = []
        for v in random.Random(1).sample(range(version + 1), min(samples, version + 1)):
            started = time.perf_counter()
            await cluster.client("a", client).version_text(v)
            latencies.append(time.perf_counter() - started)
    return {"history_versions": version, "samples": len(latencies),
            "ms_p50": round(percentile(latencies, 0.5) * 1000, 2),
            "ms_max": round(max(latencies) * 1000, 2), "target_ms": 50}


async def budget_overshoot(base: Path, limit: int, writers: int) -> dict:
    """Every writer spends 100 tokens at a time, across the three nodes, until refused."""
    cluster = Cluster(base / "budget", token_budget=limit)
    try:
        async def spender(w: int, http: httpx.AsyncClient) -> None:
            for i in range(10**6):
                spend = SpendRequest(spend_id=f"s-{w}-{i}", agent_id=f"agent-{w}", tokens=100)
                try:
                    await cluster.client("abc"[(w + i) % 3], http).spend(spend)
                except BudgetExhausted:
                    return

        async with httpx.AsyncClient(timeout=60) as http:
            await asyncio.gather(*(spender(w, http) for w in range(writers)))
            await asyncio.sleep(3)  # let the ledgers converge
            spent = {n: (await cluster.client(n, http).budget()).spent for n in "abc"}
        return {"limit": limit, "writers": writers, "tokens_per_spend": 100, "spent": spent,
                "overshoot_tokens": max(spent.values()) - limit,
                "overshoot_fraction": round((max(spent.values()) - limit) / limit, 4)}
    finally:
        cluster.stop()


async def main(quick: bool) -> dict:
    scale = 10 if quick else 1
    base = Path(tempfile.mkdtemp(prefix="coedit-bench-"))
    floor = await http_floor(base, 10, 3000 // scale)
    cluster = Cluster(base)
    try:
        reference = PostgresServer(base / "pg-reference").start()
        try:
            pg1 = pgbench_rate(reference, 1, 5)
            pg10 = pgbench_rate(reference, 10, 5)
        finally:
            reference.stop()
        runs, version = [], 0
        for writers, edits in ((1, 300), (10, 3000), (50, 5000)):
            runs.append(await throughput_and_latency(cluster, writers, edits // scale, version))
            version += runs[-1]["edits"]
        missed = 10_000 // scale
        catch = await catch_up(cluster, missed, version)
        version += missed
        history = await history_reads(cluster, 100)
    finally:
        cluster.stop()
    overshoot = await budget_overshoot(base, 100_000 // scale, 10)
    ten = next(r for r in runs if r["writers"] == 10)
    return {
        "machine": {"cpus": os.cpu_count()},
        "postgres_reference": {"insert_commits_per_s_1_client": pg1, "insert_commits_per_s_10_clients": pg10},
        "http_floor_reference": floor,
        "writers": runs,
        "ratios": {
            "cluster_10_writers_vs_pg_10_clients": round(ten["replicated_to_all_per_s"] / pg10, 3),
            "target": 0.1,
            "cluster_1_writer_vs_pg_1_client": round(runs[0]["replicated_to_all_per_s"] / pg1, 3),
            "cluster_10_writers_vs_http_floor_10_writers": round(
                ten["replicated_to_all_per_s"] / floor["requests_per_s"], 3),
        },
        "p99_ms_at_10_writers": {"value": ten["latency_ms_p99"], "target": 100},
        "catch_up": catch,
        "history": history,
        "budget_overshoot": overshoot,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the load, for a smoke run")
    print(json.dumps(asyncio.run(main(parser.parse_args().quick)), indent=2))
    sys.exit(0)
