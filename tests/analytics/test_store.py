"""The SQL of the store, in-process against a real PostgreSQL."""

import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from coedit.analytics.migrations import migrate
from coedit.analytics.models import LlmCall
from coedit.analytics.store import insert_events, p95_latency
from coedit.analytics.windows import Window

END = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


async def test_p95_walking_the_index_equals_percentile_cont(postgres):
    pool = await asyncpg.create_pool(postgres.url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            assert await migrate(conn) == await migrate(conn) == 3  # idempotent
        rng = random.Random(1)
        calls = [LlmCall(event_id=f"c{i}", agent_id="ada", phase="p", model="m",
                         prompt_tokens=1, completion_tokens=1,
                         latency_ms=rng.choice([rng.expovariate(1 / 500), 250.0]),
                         ts=END - timedelta(minutes=rng.uniform(0, 600)))
                 for i in range(3000)]
        await insert_events(pool, calls, END)
        async with pool.acquire() as conn:
            for label in ("1h", "3h", "24h"):
                window = Window.ending(label, END)
                n = sum(window.start <= c.ts <= window.end for c in calls)
                by_sort = await p95_latency(conn, window, n)
                assert await p95_latency(conn, window, n, sort_limit=0) == pytest.approx(by_sort)
    finally:
        await pool.close()
