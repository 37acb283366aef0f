"""SQL: storing events and aggregating them. Every figure is computed by
PostgreSQL; Python only divides the sums it gets back into rates."""

import json
from datetime import datetime, timedelta

import asyncpg

from coedit.analytics.models import Event, Figures, LlmCall
from coedit.analytics.windows import HOUR, ORIGIN, Window

_COMMON = {"event_id", "type", "agent_id", "ts"}

INSERT = """
INSERT INTO analytics.events (event_id, type, agent_id, ts, tokens, latency_ms, status, payload,
                              prompt_tokens, completion_tokens, cost_usd)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],
                     $5::integer[], $6::float8[], $7::text[], $8::jsonb[],
                     $9::integer[], $10::integer[], $11::float8[])
ORDER BY 1  -- one lock order for every batch, so concurrent ingests cannot deadlock
ON CONFLICT (event_id) DO NOTHING
"""


def event_row(event: Event, received: datetime) -> tuple:
    """An event as a row of `analytics.events` (typed columns plus the rest as JSON)."""
    llm = isinstance(event, LlmCall)
    return (
        event.event_id,
        event.type,
        event.agent_id,
        event.ts or received,
        event.prompt_tokens + event.completion_tokens if llm else None,
        event.latency_ms if llm else None,
        getattr(event, "status", None),
        json.dumps(event.model_dump(mode="json", exclude=_COMMON, exclude_none=True)),
        event.prompt_tokens if llm else None,
        event.completion_tokens if llm else None,
        event.cost_usd if llm else None,
    )


async def insert_events(pool: asyncpg.Pool, events: list[Event], received: datetime) -> int:
    """Store the events in one transaction; return how many were new."""
    columns = list(zip(*(event_row(e, received) for e in events))) or [[]] * 11
    status = await pool.execute(INSERT, *columns)
    return int(status.split()[-1])


def _parts(bucketed: bool) -> str:
    """Rows per (bucket, agent, type, status) of a window: the partial hours at its
    edges from raw events ($1 start, $2 end), whole hours [$3, $4) from the rollup.
    `bucket` is `date_bin($5, ...)` when bucketed, else NULL."""
    raw_key = f"date_bin($5, ts, '{ORIGIN.isoformat()}')" if bucketed else "NULL::timestamptz"
    hour_key = f"date_bin($5, hour, '{ORIGIN.isoformat()}')" if bucketed else "NULL::timestamptz"
    return f"""
        SELECT {raw_key} AS bucket, agent_id, type, coalesce(status, '') AS status,
               count(*) AS events, coalesce(sum(tokens), 0) AS tokens,
               coalesce(sum(latency_ms), 0) AS latency_ms_sum,
               min(ts) AS first_ts, max(ts) AS last_ts,
               coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
               coalesce(sum(completion_tokens), 0) AS completion_tokens,
               coalesce(sum(cost_usd), 0) AS cost_usd
        FROM analytics.events
        WHERE (ts >= $1 AND ts < $3) OR (ts >= $4 AND ts <= $2)
        GROUP BY 1, 2, 3, 4
        UNION ALL
        SELECT {hour_key}, agent_id, type, status, events, tokens, latency_ms_sum,
               first_ts, last_ts, prompt_tokens, completion_tokens, cost_usd
        FROM analytics.hourly
        WHERE hour >= $3 AND hour < $4
    """


def figures_sql(group: str | None, bucketed: bool = False) -> str:
    """Totals of a window, one row per `group` value (None: one row for the window)."""
    key, group_by = (f"{group}, ", f"GROUP BY {group} ORDER BY {group}") if group else ("", "")
    return f"""
        WITH parts AS ({_parts(bucketed)})
        SELECT {key}
            coalesce(sum(tokens) FILTER (WHERE type = 'llm_call'), 0)::bigint AS tokens,
            coalesce(sum(prompt_tokens) FILTER (WHERE type = 'llm_call'), 0)::bigint AS prompt_tokens,
            coalesce(sum(completion_tokens) FILTER (WHERE type = 'llm_call'), 0)::bigint AS completion_tokens,
            coalesce(sum(cost_usd) FILTER (WHERE type = 'llm_call'), 0)::float8 AS cost_usd,
            coalesce(sum(events) FILTER (WHERE type = 'llm_call'), 0)::bigint AS llm_calls,
            sum(latency_ms_sum) FILTER (WHERE type = 'llm_call') AS latency_ms_sum,
            coalesce(sum(events) FILTER (WHERE type = 'edit_applied'), 0)::bigint AS edits_applied,
            coalesce(sum(events) FILTER (WHERE type = 'edit_rejected'), 0)::bigint AS edits_rejected,
            coalesce(sum(events) FILTER (WHERE type = 'intent' AND status = 'opened'), 0)::bigint
                AS intents_opened,
            coalesce(sum(events) FILTER (WHERE type = 'intent' AND status = 'cancelled'), 0)::bigint
                AS intents_cancelled,
            coalesce(sum(events), 0)::bigint AS events,
            count(DISTINCT agent_id) AS active_agents,
            min(first_ts) AS first_seen,
            max(last_ts) AS last_seen
        FROM parts
        {group_by}
    """


SUMMARY = figures_sql(None)
PER_AGENT = figures_sql("agent_id")
PER_BUCKET = figures_sql("bucket", bucketed=True)
P95_BY_SORT = """
SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FROM analytics.events
WHERE type = 'llm_call' AND ts >= $1 AND ts <= $2
"""
P95_FROM_THE_TOP = """
SELECT latency_ms FROM analytics.events
WHERE type = 'llm_call' AND ts >= $1 AND ts <= $2
ORDER BY latency_ms DESC OFFSET $3 LIMIT 2
"""
SORT_LIMIT = 20_000


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def figures(row: asyncpg.Record) -> dict:
    """The fields of `Figures` from a row of `figures_sql`."""
    fields = {name: row[name] for name in (
        "tokens", "prompt_tokens", "completion_tokens", "cost_usd", "llm_calls", "edits_applied",
        "edits_rejected", "intents_opened", "intents_cancelled",
    )}
    decided = row["edits_applied"] + row["edits_rejected"]
    return Figures(
        **fields,
        latency_ms_mean=_ratio(row["latency_ms_sum"] or 0, row["llm_calls"]),
        tokens_per_applied_edit=_ratio(row["tokens"], row["edits_applied"]),
        conflict_rate=_ratio(row["edits_rejected"], decided),
        cancel_rate=_ratio(row["intents_cancelled"], row["intents_opened"]),
    ).model_dump()


def _args(window: Window) -> tuple:
    return (window.start, window.end, *window.whole_hours())


async def p95_latency(
    conn: asyncpg.Connection, window: Window, calls: int, sort_limit: int = SORT_LIMIT
) -> float | None:
    """`percentile_cont(0.95)` of the window's `calls` LLM latencies. Up to
    `sort_limit` calls, PostgreSQL sorts them all; beyond, it walks the
    (type, latency_ms) index down from the slowest call to the two values the
    percentile lies between, reading about 5 % of the calls instead of sorting all."""
    if calls <= sort_limit:
        return await conn.fetchval(P95_BY_SORT, window.start, window.end)
    rank = 0.95 * (calls - 1)  # 0-based position in ascending order
    below = int(rank)
    higher, lower = (
        r["latency_ms"] for r in await conn.fetch(
            P95_FROM_THE_TOP, window.start, window.end, calls - 2 - below)
    )
    return lower + (rank - below) * (higher - lower)


async def summary(conn: asyncpg.Connection, window: Window) -> dict:
    """Figures and p95 from one snapshot, so the p95 rank matches the call count."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        row = await conn.fetchrow(SUMMARY, *_args(window))
        p95 = await p95_latency(conn, window, row["llm_calls"])
    return {**figures(row), "active_agents": row["active_agents"], "latency_ms_p95": p95}


async def per_agent(conn: asyncpg.Connection, window: Window) -> list[dict]:
    rows = await conn.fetch(PER_AGENT, *_args(window))
    return [
        {**figures(row), "agent_id": row["agent_id"], "events": row["events"],
         "first_seen": row["first_seen"], "last_seen": row["last_seen"]}
        for row in rows
    ]


async def per_bucket(conn: asyncpg.Connection, window: Window, stride: timedelta) -> dict:
    """Figures per bucket start (buckets without events are absent). Whole-hour
    buckets use the rollup; finer ones read raw events only."""
    start, end, h0, h1 = _args(window)
    if stride % HOUR:
        h0 = h1 = start
    rows = await conn.fetch(PER_BUCKET, start, end, h0, h1, stride)
    return {row["bucket"]: row for row in rows}
