"""Benchmark of the budget reservations (not a test).

    python -m bench.budget [--quick] [--runs N]

Each run starts three text nodes, each on its own PostgreSQL (fsync on), with a
budget of LIMIT tokens, and lets 10 agents call a model until the budget stops
them, the way the agents do: reserve an upper bound (prompt + max_tokens), call,
settle what the call used. The "model" is a sleep and a usage drawn at random up
to the bound, so what it consumed is known exactly. Then, on the same cluster, the
nodes restart with LIMIT more tokens and the same agents run the old protocol
(check the budget, call, then record the spend) as the reference of the same run.

Prints JSON: per protocol, the overshoot in tokens (what the model consumed past
the limit; target 0 in every run for reservations), the share of the budget used
before the agents stopped, and the per-call latency of the budget bookkeeping
(reserve + settle, against check + spend)."""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.text_nodes import Cluster, percentile
from coedit.text_node.client import BudgetExhausted, TextNodeClient, Unavailable
from coedit.text_node.models import ReserveRequest, SettleRequest, SpendRequest

LIMIT = 50_000  # `coedit up`'s default budget
AGENTS = 10
MAX_TOKENS = 600  # a phase's max_tokens
CALL_SECONDS = (0.02, 0.08)


class Agents:
    """AGENTS concurrent callers of a model that costs what `draw` says."""

    def __init__(self, cluster: Cluster, http: httpx.AsyncClient, seed: int):
        self.cluster, self.http, self.rng = cluster, http, random.Random(seed)
        self.consumed = 0  # tokens the model really used, spent or not
        self.calls = 0
        self.bookkeeping_ms: list[float] = []  # per call: the budget requests' time

    def node(self, agent: int, call: int) -> TextNodeClient:
        return self.cluster.client("abc"[(agent + call) % 3], self.http)

    def draw(self) -> tuple[int, int]:
        """(upper bound, what the call uses): a prompt counted, plus max_tokens."""
        prompt = self.rng.randint(300, 1500)
        return prompt + MAX_TOKENS, prompt + self.rng.randint(50, MAX_TOKENS)

    async def call_model(self, used: int) -> None:
        await asyncio.sleep(self.rng.uniform(*CALL_SECONDS))
        self.consumed += used
        self.calls += 1

    async def reserving(self, agent: int, run: int) -> None:
        for call in range(10**6):
            bound, used = self.draw()
            node, rid = self.node(agent, call), f"r{run}-{agent}-{call}"
            started = time.perf_counter()
            for _ in range(50):
                try:
                    await node.reserve(ReserveRequest(reservation_id=rid, agent_id=f"agent-{agent}", tokens=bound))
                    break
                except BudgetExhausted:
                    return
                except Unavailable:  # 503: the rights are on a node that did not answer; again
                    await asyncio.sleep(0.05)
            else:
                return
            reserve_ms = (time.perf_counter() - started) * 1000
            await self.call_model(used)
            started = time.perf_counter()
            await node.settle(SettleRequest(reservation_id=rid, tokens=used))
            self.bookkeeping_ms.append(reserve_ms + (time.perf_counter() - started) * 1000)

    async def spending_after(self, agent: int, run: int) -> None:
        """The old protocol: stop once the budget says exhausted, else call, then spend."""
        for call in range(10**6):
            _, used = self.draw()
            node = self.node(agent, call)
            started = time.perf_counter()
            if (await node.budget()).exhausted:
                return
            check_ms = (time.perf_counter() - started) * 1000
            await self.call_model(used)
            started = time.perf_counter()
            try:
                await node.spend(SpendRequest(spend_id=f"s{run}-{agent}-{call}", agent_id=f"agent-{agent}",
                                              tokens=used))
            except (BudgetExhausted, Unavailable):
                return  # the tokens were used all the same
            finally:
                self.bookkeeping_ms.append(check_ms + (time.perf_counter() - started) * 1000)


async def settled_spent(cluster: Cluster, http: httpx.AsyncClient) -> int:
    """The ledger once every node agrees and nothing is reserved."""
    while True:
        budgets = [await cluster.client(n, http).budget() for n in "abc"]
        if len({b.spent for b in budgets}) == 1 and all(b.reserved == 0 for b in budgets):
            return budgets[0].spent
        await asyncio.sleep(0.1)


def restart_with_budget(cluster: Cluster, limit: int) -> None:
    for node in cluster.nodes.values():
        node.stop()
        args = node.args
        node.args = [*args[:args.index("--token-budget") + 1], str(limit), *args[args.index("--token-budget") + 2:]]
    for node in cluster.nodes.values():
        node.start(wait_ready=False)
    for node in cluster.nodes.values():
        node.wait_ready()


def summary(runs: list[dict], key: str) -> dict:
    overshoot = [r[key]["overshoot_tokens"] for r in runs]
    used = [r[key]["share_used"] for r in runs]
    latency = [ms for r in runs for ms in r[key]["bookkeeping_ms"]]
    return {
        "runs": len(runs), "runs_over_the_limit": sum(o > 0 for o in overshoot),
        "overshoot_tokens_max": max(overshoot), "overshoot_tokens_mean": round(statistics.mean(overshoot), 1),
        "overshoot_fraction_max": round(max(overshoot) / LIMIT, 4),
        "share_used_min": min(used), "share_used_mean": round(statistics.mean(used), 4),
        "calls": sum(r[key]["calls"] for r in runs),
        "bookkeeping_ms_per_call_p50": round(percentile(latency, 0.5), 2),
        "bookkeeping_ms_per_call_p99": round(percentile(latency, 0.99), 2),
    }


async def one_run(base: Path, run: int) -> dict:
    cluster = Cluster(base / f"run-{run}", token_budget=LIMIT)
    try:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=100)) as http:
            escrow = Agents(cluster, http, seed=run)
            await asyncio.gather(*(escrow.reserving(a, run) for a in range(AGENTS)))
            spent = await settled_spent(cluster, http)
            restart_with_budget(cluster, 2 * LIMIT)  # the reference gets LIMIT more
            old = Agents(cluster, http, seed=run)
            await asyncio.gather(*(old.spending_after(a, run) for a in range(AGENTS)))
            await asyncio.sleep(1)
            available = 2 * LIMIT - spent
        return {
            "reservations": {"overshoot_tokens": escrow.consumed - LIMIT, "share_used": round(escrow.consumed / LIMIT, 4),
                             "ledger_spent": spent, "consumed": escrow.consumed, "calls": escrow.calls,
                             "bookkeeping_ms": escrow.bookkeeping_ms},
            "spend_after_reference": {"overshoot_tokens": old.consumed - available,
                                      "share_used": round(old.consumed / available, 4), "consumed": old.consumed,
                                      "calls": old.calls, "bookkeeping_ms": old.bookkeeping_ms},
        }
    finally:
        cluster.stop()


async def main(runs: int) -> dict:
    base = Path(tempfile.mkdtemp(prefix="coedit-bench-budget-"))
    results = []
    for run in range(runs):
        results.append(await one_run(base, run))
        print(f"run {run + 1}/{runs}: overshoot {results[-1]['reservations']['overshoot_tokens']} "
              f"(reference {results[-1]['spend_after_reference']['overshoot_tokens']})", file=sys.stderr)
    escrow, reference = summary(results, "reservations"), summary(results, "spend_after_reference")
    return {
        "machine": {"cpus": os.cpu_count()},
        "setup": {"limit": LIMIT, "agents": AGENTS, "max_tokens": MAX_TOKENS, "call_ms": [s * 1000 for s in CALL_SECONDS],
                  "nodes": 3},
        "reservations": {**escrow, "target_overshoot_tokens": 0},
        "spend_after_reference": reference,
        "added_ms_per_call_p50": round(escrow["bookkeeping_ms_per_call_p50"] - reference["bookkeeping_ms_per_call_p50"], 2),
        "per_run_overshoot": [[r["reservations"]["overshoot_tokens"], r["spend_after_reference"]["overshoot_tokens"]]
                              for r in results],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="3 runs, for a smoke run")
    arguments = parser.parse_args()
    print(json.dumps(asyncio.run(main(3 if arguments.quick else arguments.runs)), indent=2))
