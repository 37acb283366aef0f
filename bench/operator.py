"""Operator benchmark: `python -m bench.operator [--sessions N] [--more M] [--rate R] [--idle S]`.

Runs the kmock Kubernetes emulator (with the bookkeeping of tests/operator/emulator.py:
resourceVersions, label-filtered watches, a count of every request it serves) in this
process and `coedit operator` as a separate process against it, then prints JSON:
- API requests per minute, counted by the emulator over an idle window (every session
  Running, nothing changing, the timer reading the text nodes every --resync-interval
  seconds), per idle session, beside the same count with no session at all (what
  kopf's watches cost on their own) measured first in the same run;
- CR create -> every child created (p50/p99 over N sessions), beside the same children
  POSTed straight to the emulator by this process (what the writes alone cost here);
- the operator's resident memory with no session, with N, and with N + M sessions
  (default 100 and 1,000 in all), beside a bare Python process importing the same code.
The emulator, the operator and the client share this machine's cores."""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from kmock import Server

from coedit.local.servers import free_port
from coedit_operator import consts, kube
from coedit_operator.config import BuildConfig
from coedit_operator.render import render_objects
from tests.operator.emulator import CES, Emulator, TextService, declare_resources, write_kubeconfig
from tests.operator.helpers import body

NS = "bench"
MERGE = {"Content-Type": "application/merge-patch+json"}
WORKLOADS = ("statefulsets", "deployments")


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


def session_name(index: int) -> str:
    return f"s{index:04d}-x"


def children_by_session(kmock) -> dict[str, int]:
    """Children per session name (names only: nothing is deleted during the run)."""
    counts: dict[str, int] = {}
    for resource, namespace, name in list(kmock.objects.keys()):
        if namespace == NS and name and name.startswith("s") and resource.plural not in (consts.PLURAL, "events"):
            key = "-".join(name.split("-", 2)[:2])
            counts[key] = counts.get(key, 0) + 1
    return counts


def phases(kmock) -> Counter:
    return Counter(((obj.raw.get("status") or {}).get("phase") or "none")
                   for (resource, namespace, _), obj in list(kmock.objects.items())
                   if resource.plural == consts.PLURAL and namespace == NS and not obj.deleted)


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
    deadline = time.perf_counter() + 600 + len(names) / rate
    while len(done) < len(names) and time.perf_counter() < deadline:
        counts = children_by_session(kmock)
        now = time.perf_counter()
        for name, count in counts.items():
            if count >= expected and name not in done and name in started:
                done[name] = now - started[name]
        await asyncio.sleep(0.2)  # the emulator shares this process: poll gently
    await task
    if len(done) < len(names):
        raise SystemExit(f"only {len(done)} of {len(names)} sessions got all their children")
    return list(done.values())


async def mark_ready(kmock, http: httpx.AsyncClient, names: set[str]) -> None:
    """kmock runs no controllers: play the StatefulSet and Deployment controllers for `names`."""
    limit = asyncio.Semaphore(16)

    async def ready(plural: str, name: str, replicas: int) -> None:
        async with limit:
            response = await http.patch(f"/apis/apps/v1/namespaces/{NS}/{plural}/{name}/status", headers=MERGE,
                                        json={"status": {"replicas": replicas, "readyReplicas": replicas}})
            response.raise_for_status()

    await asyncio.gather(*(
        ready(resource.plural, name, obj.raw["spec"]["replicas"])
        for (resource, namespace, name), obj in list(kmock.objects.items())
        if namespace == NS and resource.plural in WORKLOADS and not obj.deleted
        and "-".join(name.split("-", 2)[:2]) in names))


async def wait_running(kmock, count: int, timeout: float) -> float:
    started = time.perf_counter()
    while phases(kmock)["Running"] < count:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"only {phases(kmock)['Running']} of {count} sessions Running: {dict(phases(kmock))}")
        await asyncio.sleep(0.5)
    return time.perf_counter() - started


async def requests_per_minute(kmock, seconds: float) -> dict:
    """What the emulator served over `seconds`, per minute, by (method, resource, watch/subresource)."""
    before = Counter(kmock.counted)
    await asyncio.sleep(seconds)
    served = Counter(kmock.counted)
    served.subtract(before)
    per_minute = {" ".join(filter(None, key)): round(count * 60 / seconds, 2)
                  for key, count in sorted(served.items(), key=str) if count}
    return {"total": round(sum(served.values()) * 60 / seconds, 2), "by_request": per_minute,
            "window_s": seconds}


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
    api_version, plural = kube.API_VERSIONS[obj["kind"]], kube.PLURALS[obj["kind"]]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{prefix}/namespaces/{NS}/{plural}"


def baseline_rss() -> dict:
    code = "import kopf, coedit_operator.handlers, coedit_operator.main, sys; print('ready', flush=True); sys.stdin.read()"
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    process.stdout.readline()
    figures = rss_mib(process.pid)
    process.communicate("")
    return figures


def operator_metrics(port: int) -> dict:
    """The operator's own counts of its API requests and reconciliations."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    wanted = {"coedit_operator_kubernetes_requests_total", "coedit_operator_reconciliations_total"}
    return {f"{sample.name}{{{','.join(f'{k}={v}' for k, v in sorted(sample.labels.items()))}}}": sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples if sample.name in wanted}


async def main(sessions: int, more: int, rate: float, idle: float, resync: float) -> dict:
    expected = len(render_objects(body(namespace=NS), BuildConfig()))
    text = await TextService().start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-operator-"))
    metrics_port = free_port()
    result: dict = {"sessions": sessions, "sessions_in_all": sessions + more, "children_per_session": expected,
                    "create_rate_per_s": rate, "resync_interval_s": resync}
    async with Emulator() as kmock, Server(kmock):
        declare_resources(kmock)
        url = str(kmock.url).rstrip("/")
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=32)) as http:
            env = {**os.environ, "KUBECONFIG": str(write_kubeconfig(workdir / "kubeconfig", url))}
            operator = subprocess.Popen(
                [sys.executable, "-m", "coedit", "operator", "--standalone",
                 "--resync-interval", str(resync), "--text-url-template", f"{text.url}/{{node}}",
                 "--metrics-port", str(metrics_port), "--metrics-host", "127.0.0.1", "--log-level", "warning"],
                env=env, stdout=subprocess.DEVNULL, stderr=(workdir / "operator.log").open("wb"),
            )
            try:
                await asyncio.sleep(5)  # start-up, discovery, one LIST and one watch per kind
                if operator.poll() is not None:
                    raise SystemExit(f"the operator exited: {(workdir / 'operator.log').read_text()[-3000:]}")
                memory = {"no_session": rss_mib(operator.pid)}
                reference = await requests_per_minute(kmock, idle)

                first = [session_name(i) for i in range(sessions)]
                latencies = await create_and_wait(kmock, http, first, expected, rate)
                await mark_ready(kmock, http, set(first))
                result["seconds_until_all_running"] = round(await wait_running(kmock, sessions, 600), 1)
                await asyncio.sleep(resync)  # every session read its text nodes once
                idle_requests = await requests_per_minute(kmock, idle)
                memory[f"with_{sessions}_sessions"] = rss_mib(operator.pid)

                if more:
                    rest = [session_name(i) for i in range(sessions, sessions + more)]
                    await create_and_wait(kmock, http, rest, expected, rate)
                    await mark_ready(kmock, http, set(rest))
                    result["seconds_until_all_running_in_all"] = round(
                        await wait_running(kmock, sessions + more, 1200), 1)
                    await asyncio.sleep(resync)
                    idle_all = await requests_per_minute(kmock, idle)
                    memory[f"with_{sessions + more}_sessions"] = rss_mib(operator.pid)
                    result[f"idle_api_requests_per_min_at_{sessions + more}_sessions"] = idle_all
                    result["idle_api_requests_per_min_per_session_in_all"] = round(
                        idle_all["total"] / (sessions + more), 3)
                result["operator_own_counts"] = operator_metrics(metrics_port)
            finally:
                operator.terminate()
                operator.wait(30)
            direct = await direct_writes(http, min(sessions, 100))
    await text.stop()
    result.update({
        "idle_api_requests_per_min_per_session": round(idle_requests["total"] / sessions, 3),
        f"idle_api_requests_per_min_at_{sessions}_sessions": idle_requests,
        "reference_api_requests_per_min_with_no_session": reference,
        "cr_create_to_all_children": summary(latencies),
        "reference_direct_posts_of_the_same_children": summary(direct),
        "operator_memory": memory,
        "reference_memory_bare_import": baseline_rss(),
        "targets": {"idle_api_requests_per_min_per_session": 1, "p99_ms": 2000},
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 1),
    })
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100, help="sessions for the latency and idle figures")
    parser.add_argument("--more", type=int, default=900, help="sessions added after, for the memory figure")
    parser.add_argument("--rate", type=float, default=5.0, help="sessions created per second")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of each idle window")
    parser.add_argument("--resync-interval", type=float, default=10.0, help="the operator's timer (text node reads)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.sessions, args.more, args.rate, args.idle, args.resync_interval)), indent=2))
