"""Operator benchmark: `python -m bench.operator [--sessions N] [--rate R]`.

Runs the kmock Kubernetes emulator (with the resourceVersion bookkeeping of
tests/operator/emulator.py) in this process and `coedit operator` as a separate
process against it, then creates N sessions at R per second and prints JSON:
- CR create -> every child created (p50/p99 over N sessions), beside the same
  children POSTed straight to the emulator by this process (what the writes
  alone cost here);
- the operator's resident memory with N sessions, beside a bare Python process
  that imports the same code (kopf + coedit_operator).
The emulator, the operator and the client share this machine's cores."""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from kmock import Server

from coedit_operator.config import BuildConfig
from coedit_operator.render import render_objects
from tests.operator.emulator import CES, Emulator, TextService, declare_resources, write_kubeconfig
from tests.operator.helpers import body

NS = "bench"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(seconds: list[float]) -> dict:
    return {"p50_ms": round(percentile(seconds, 0.5) * 1000, 1), "p99_ms": round(percentile(seconds, 0.99) * 1000, 1),
            "max_ms": round(max(seconds) * 1000, 1), "n": len(seconds)}


def rss_mib(pid: int) -> dict:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss_mib": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
            "peak_mib": round(int(fields["VmHWM"].split()[0]) / 1024, 1)}


def children_by_session(kmock) -> dict[str, int]:
    """Children per session name (names only: nothing is deleted during the run)."""
    counts: dict[str, int] = {}
    for resource, namespace, name in list(kmock.objects.keys()):
        if namespace == NS and name and name.startswith("s") and resource.plural not in ("coeditsessions", "events"):
            key = "-".join(name.split("-", 2)[:2])
            counts[key] = counts.get(key, 0) + 1
    return counts


async def create_and_wait(kmock, http: httpx.AsyncClient, names: list[str], expected: int, rate: float) -> list[float]:
    """Create the sessions at `rate` per second; time each until all its children exist."""
    started: dict[str, float] = {}
    done: dict[str, float] = {}

    async def creator() -> None:
        for name in names:
            response = await http.post(CES.format(ns=NS), json=body(name=name, namespace=NS))
            response.raise_for_status()
            started[name] = time.perf_counter()
            await asyncio.sleep(1 / rate)

    task = asyncio.create_task(creator())
    deadline = time.perf_counter() + 600
    while len(done) < len(names) and time.perf_counter() < deadline:
        counts = children_by_session(kmock)
        now = time.perf_counter()
        for name, count in counts.items():
            if count >= expected and name not in done and name in started:
                done[name] = now - started[name]
        await asyncio.sleep(0.05)  # the emulator shares this process: poll gently
    await task
    if len(done) < len(names):
        raise SystemExit(f"only {len(done)} of {len(names)} sessions got all their children")
    return list(done.values())


async def direct_writes(http: httpx.AsyncClient, count: int) -> list[float]:
    """The reference: this process POSTs each session's children itself."""
    durations = []
    for i in range(count):
        objects = render_objects(body(name=f"direct-{i}", namespace=NS), BuildConfig())
        start = time.perf_counter()
        await asyncio.gather(*(http.post(_collection(obj), json=obj) for obj in objects))
        durations.append(time.perf_counter() - start)
    return durations


def _collection(obj: dict) -> str:
    from coedit_operator.kube import object_path

    return object_path(obj["apiVersion"], obj["kind"], NS)


def baseline_rss() -> dict:
    code = "import kopf, coedit_operator.handlers, coedit_operator.main, sys; print('ready', flush=True); sys.stdin.read()"
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    process.stdout.readline()
    figures = rss_mib(process.pid)
    process.communicate("")
    return figures


async def main(sessions: int, rate: float) -> dict:
    expected = len(render_objects(body(namespace=NS), BuildConfig()))
    text = await TextService().start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-operator-"))
    async with Emulator() as kmock, Server(kmock):
        declare_resources(kmock)
        url = str(kmock.url).rstrip("/")
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=32)) as http:
            env = {**os.environ, "KUBECONFIG": str(write_kubeconfig(workdir / "kubeconfig", url))}
            operator = subprocess.Popen(
                [sys.executable, "-m", "coedit", "operator", "--standalone", "true",
                 "--resync-interval", "60", "--text-url-template", f"{text.url}/{{node}}", "--log-level", "warning"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                await asyncio.sleep(3)  # start-up, discovery, watch
                idle = rss_mib(operator.pid)
                latencies = await create_and_wait(kmock, http, [f"s{i:03d}-x" for i in range(sessions)], expected, rate)
                await asyncio.sleep(2)
                loaded = rss_mib(operator.pid)
            finally:
                operator.terminate()
                operator.wait(30)
            direct = await direct_writes(http, min(sessions, 100))
    await text.stop()
    return {
        "sessions": sessions,
        "children_per_session": expected,
        "create_rate_per_s": rate,
        "cr_create_to_all_children": summary(latencies),
        "reference_direct_posts_of_the_same_children": summary(direct),
        "operator_memory": {"idle": idle, f"with_{sessions}_sessions": loaded},
        "reference_memory_bare_import": baseline_rss(),
        "targets": {"p99_ms": 2000, "rss_mib": 200},
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5.0, help="sessions created per second")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.sessions, args.rate)), indent=2))
