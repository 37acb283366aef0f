"""Analytics benchmark: `python -m bench.analytics` prints JSON.

- ingest: events/s through `POST /api/events` (batches, concurrent clients), beside
  the same rows inserted by asyncpg straight into PostgreSQL with the service's own
  statement (and COPY, the fastest way in), measured in the same run;
- queries: latency of summary (every window), time series and per-agent figures
  over 1,000,000 events spread over 7 days, loaded with COPY (target < 200 ms)."""

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from pydantic import TypeAdapter

from coedit.analytics.client import AnalyticsClient
from coedit.analytics.models import Event
from coedit.analytics.store import INSERT, event_row
from coedit.local.servers import PostgresServer
from coedit.local.processes import ServiceProcess

TOKEN = "bench-token"
TOKEN_ENV = {"COEDIT_AUTH_TOKEN": TOKEN}  # a secret goes by environment, never as a flag (`ps` shows flags)
AGENTS = [f"agent-{i:02}" for i in range(20)]
COLUMNS = ["event_id", "type", "agent_id", "ts", "tokens", "latency_ms", "status", "payload"]
EVENT = TypeAdapter(Event)


def make_event(rng: random.Random, ts: datetime) -> dict:
    """One event of an agent's cycle: 4 LLM calls, 3 intent changes, 1 edit outcome."""
    agent = rng.choice(AGENTS)
    base = {"event_id": str(uuid.uuid4()), "agent_id": agent, "ts": ts.isoformat()}
    kind = rng.randrange(8)
    if kind < 4:
        return {**base, "type": "llm_call", "phase": ("intent", "confirm", "generate", "review")[kind],
                "model": "fake", "prompt_tokens": rng.randrange(200, 3000),
                "completion_tokens": rng.randrange(10, 400), "latency_ms": rng.expovariate(1 / 800)}
    if kind < 7:
        status = ("opened", "confirmed", rng.choice(("applied", "cancelled")))[kind - 4]
        return {**base, "type": "intent", "intent_id": str(uuid.uuid4()), "status": status}
    if rng.random() < 0.8:
        return {**base, "type": "edit_applied", "edit_id": str(uuid.uuid4()), "version": 1}
    return {**base, "type": "edit_rejected", "reason": "anchor_not_found"}


def batches(rng: random.Random, count: int, size: int, spread: timedelta) -> list[list[dict]]:
    now = datetime.now(UTC)
    events = [make_event(rng, now - rng.random() * spread) for _ in range(count)]
    return [events[i:i + size] for i in range(0, count, size)]


async def http_ingest(url: str, work: list[list[dict]], clients: int) -> float:
    """Through the analytics client; the events are validated beforehand, as for
    `raw_insert`, so that both figures time the same work."""
    queue = [[EVENT.validate_python(e) for e in batch] for batch in work]
    async with AnalyticsClient(url, token=TOKEN, timeout=60) as client:
        async def worker():
            while queue:
                await client.post_events(queue.pop())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return time.perf_counter() - started


async def raw_insert(pool: asyncpg.Pool, work: list[list[dict]], clients: int) -> float:
    """The service's INSERT, from asyncpg directly (no HTTP, no JSON, validation beforehand)."""
    received = datetime.now(UTC)
    rows = [[event_row(EVENT.validate_python(e), received) for e in batch] for batch in work]

    async def worker():
        while rows:
            await pool.execute(INSERT, *zip(*rows.pop()))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started


def copy_rows(rng: random.Random, count: int, spread: timedelta) -> list[tuple]:
    """Rows for COPY, built directly (validating 1M models would take longer than COPY)."""
    now = datetime.now(UTC)
    rows = []
    for _ in range(count):
        event = make_event(rng, now - rng.random() * spread)
        llm = event["type"] == "llm_call"
        rows.append((
            event["event_id"], event["type"], event["agent_id"], datetime.fromisoformat(event["ts"]),
            event["prompt_tokens"] + event["completion_tokens"] if llm else None,
            event["latency_ms"] if llm else None, event.get("status"), "{}",
        ))
    return rows


async def timed_gets(query, repeat: int) -> dict:
    """`query()` (a report through the client) `repeat` times, one after another."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await query()
        times.append((time.perf_counter() - started) * 1000)
    return {"ms_median": round(statistics.median(times), 1), "ms_max": round(max(times), 1)}


async def run(args, postgres: PostgresServer, service: ServiceProcess) -> dict:
    rng = random.Random(7)
    pool = await asyncpg.create_pool(postgres.url, min_size=args.clients, max_size=args.clients)
    result: dict = {"machine_cores": __import__("os").cpu_count()}
    try:
        http_work = batches(rng, args.ingest_events, args.batch, timedelta(hours=1))
        http_s = await http_ingest(service.url, http_work, args.clients)
        raw_work = batches(rng, args.ingest_events, args.batch, timedelta(hours=1))
        raw_s = await raw_insert(pool, raw_work, args.clients)
        copy_data = copy_rows(rng, args.ingest_events, timedelta(hours=1))
        started = time.perf_counter()
        await pool.copy_records_to_table("events", schema_name="analytics", records=copy_data,
                                         columns=COLUMNS)
        copy_s = time.perf_counter() - started
        http_rate, raw_rate = args.ingest_events / http_s, args.ingest_events / raw_s
        result["ingest"] = {
            "events": args.ingest_events, "batch": args.batch, "concurrent_clients": args.clients,
            "http_events_per_s": round(http_rate),
            "reference_asyncpg_insert_events_per_s": round(raw_rate),
            "reference_copy_events_per_s": round(args.ingest_events / copy_s),
            "ratio_http_to_asyncpg_insert": round(http_rate / raw_rate, 2),
            "fsync": True,
        }

        await pool.execute("TRUNCATE analytics.events, analytics.hourly")
        data = copy_rows(rng, args.events, timedelta(days=7))
        started = time.perf_counter()
        await pool.copy_records_to_table("events", schema_name="analytics", records=data,
                                         columns=COLUMNS)
        load_s = time.perf_counter() - started
        await pool.execute("VACUUM ANALYZE analytics.events, analytics.hourly")  # as autovacuum would
        hourly_rows = await pool.fetchval("SELECT count(*) FROM analytics.hourly")
        queries: dict = {"events": args.events, "spread": "7d", "agents": len(AGENTS),
                         "load_copy_s": round(load_s, 1), "hourly_rollup_rows": hourly_rows,
                         "target_ms": 200}
        async with AnalyticsClient(service.url, timeout=60) as client:
            for window in ("1h", "24h", "7d"):
                queries[f"summary_{window}"] = await timed_gets(
                    lambda: client.summary(window), args.repeat)
            for window, bucket in (("1h", "1m"), ("24h", "5m"), ("7d", "1h")):
                queries[f"timeseries_{window}_by_{bucket}"] = await timed_gets(
                    lambda: client.timeseries(window, bucket), args.repeat)
            queries["agents_7d"] = await timed_gets(lambda: client.agents("7d"), args.repeat)
            total = await client.summary("7d")
        queries["check_7d_events_counted"] = total.llm_calls + total.edits_applied + total.edits_rejected
        queries["summaries_under_target"] = all(
            queries[f"summary_{window}"]["ms_median"] < 200 for window in ("1h", "24h", "7d"))
        result["queries"] = queries
    finally:
        await pool.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--ingest-events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        postgres = PostgresServer(Path(tmp) / "pg").start()
        service = ServiceProcess("analytics", ["--database-url", postgres.url, "--log-level", "warning"],
                                 Path(tmp), env=TOKEN_ENV)
        try:
            service.start()
            result = asyncio.run(run(args, postgres, service))
        finally:
            service.stop()
            postgres.stop()
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
