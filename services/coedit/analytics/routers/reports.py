"""Read-only figures of a window: summary, time series for charts, per agent."""

from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime

from coedit.analytics import store
from coedit.analytics.deps import get_pool
from coedit.analytics.models import Agents, Bucket, Summary, Timeseries
from coedit.analytics.windows import DURATION_PATTERN, Window, parse_duration
from coedit.common.errors import error_responses

router = APIRouter(prefix="/api", tags=["reports"], responses=error_responses(503))


def window_query(
    window: Annotated[
        str, Query(pattern=DURATION_PATTERN, description="length: 1h, 24h, 7d, or e.g. 90m")
    ] = "1h",
    end: Annotated[
        AwareDatetime | None, Query(description="end of the window (default: now), inclusive")
    ] = None,
) -> Window:
    return Window.ending(window, end)


WindowQuery = Annotated[Window, Depends(window_query)]


@router.get("/summary")
async def get_summary(window: WindowQuery, pool: asyncpg.Pool = Depends(get_pool)) -> Summary:
    async with pool.acquire() as conn:
        figures = await store.summary(conn, window)
    return Summary(window=window.label, start=window.start, end=window.end, **figures)


@router.get("/timeseries")
async def get_timeseries(
    window: WindowQuery,
    bucket: Annotated[str, Query(pattern=DURATION_PATTERN, description="e.g. 1m, 5m, 1h")] = "5m",
    pool: asyncpg.Pool = Depends(get_pool),
) -> Timeseries:
    stride = parse_duration(bucket)
    starts = window.buckets(stride)
    async with pool.acquire() as conn:
        rows = await store.per_bucket(conn, window, stride)
    fields = ("tokens", "cost_usd", "llm_calls", "edits_applied", "edits_rejected", "active_agents")
    return Timeseries(
        window=window.label,
        bucket=bucket,
        start=window.start,
        end=window.end,
        buckets=[
            Bucket(start=start, **{f: rows[start][f] if start in rows else 0 for f in fields})
            for start in starts
        ],
    )


@router.get("/agents")
async def get_agents(window: WindowQuery, pool: asyncpg.Pool = Depends(get_pool)) -> Agents:
    async with pool.acquire() as conn:
        agents = await store.per_agent(conn, window)
    return Agents(window=window.label, start=window.start, end=window.end, agents=agents)
