"""Versioned, idempotent schema migrations, applied at start-up under an advisory
lock so that several replicas starting together apply each version once."""

import asyncpg
import structlog

log = structlog.get_logger(__name__)

LOCK_KEY = 0x616E616C  # "anal": one advisory lock id for this service's migrations

# (version, name, SQL). Append only: a released migration is never edited.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "events and their hourly rollup",
        """
        CREATE TABLE analytics.events (
            event_id    text PRIMARY KEY,
            type        text NOT NULL,
            agent_id    text NOT NULL,
            ts          timestamptz NOT NULL,
            tokens      integer,           -- llm_call: prompt + completion
            latency_ms  double precision,  -- llm_call
            status      text,              -- intent
            payload     jsonb NOT NULL,    -- the event's other fields, as posted
            received_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX events_ts ON analytics.events (ts);
        -- p95 latency reads llm_call latencies of a window from this index alone.
        CREATE INDEX events_type_ts ON analytics.events (type, ts) INCLUDE (latency_ms);

        -- Per hour, agent, type and intent status: what windows longer than a few
        -- hours are summed from, so a 7-day summary reads thousands of rows, not millions.
        CREATE TABLE analytics.hourly (
            hour           timestamptz NOT NULL,
            agent_id       text NOT NULL,
            type           text NOT NULL,
            status         text NOT NULL,
            events         bigint NOT NULL,
            tokens         bigint NOT NULL,
            latency_ms_sum double precision NOT NULL,
            first_ts       timestamptz NOT NULL,
            last_ts        timestamptz NOT NULL,
            PRIMARY KEY (hour, agent_id, type, status)
        );

        -- A statement trigger keeps the rollup in step with every insert (API or COPY);
        -- its transition table holds only the rows really inserted, so duplicates
        -- skipped by ON CONFLICT DO NOTHING are never counted. Keys are upserted in
        -- sorted order so that concurrent ingests cannot deadlock.
        CREATE FUNCTION analytics.roll_up() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO analytics.hourly AS h
                (hour, agent_id, type, status, events, tokens, latency_ms_sum, first_ts, last_ts)
            SELECT date_bin('1 hour', ts, '2000-01-01 00:00:00+00'), agent_id, type,
                   coalesce(status, ''), count(*), coalesce(sum(tokens), 0),
                   coalesce(sum(latency_ms), 0), min(ts), max(ts)
            FROM inserted
            GROUP BY 1, 2, 3, 4
            ORDER BY 1, 2, 3, 4
            ON CONFLICT (hour, agent_id, type, status) DO UPDATE SET
                events = h.events + excluded.events,
                tokens = h.tokens + excluded.tokens,
                latency_ms_sum = h.latency_ms_sum + excluded.latency_ms_sum,
                first_ts = least(h.first_ts, excluded.first_ts),
                last_ts = greatest(h.last_ts, excluded.last_ts);
            RETURN NULL;
        END $$;
        CREATE TRIGGER events_roll_up AFTER INSERT ON analytics.events
            REFERENCING NEW TABLE AS inserted
            FOR EACH STATEMENT EXECUTE FUNCTION analytics.roll_up();
        """,
    ),
    (
        2,
        "latency index for p95 over long windows",
        """
        -- Long windows find their p95 walking down from the slowest calls (store.p95_latency).
        CREATE INDEX events_type_latency ON analytics.events (type, latency_ms) INCLUDE (ts);
        """,
    ),
    (
        3,
        "prompt and completion tokens and cost in money, per event and per hour",
        """
        ALTER TABLE analytics.events
            ADD COLUMN prompt_tokens integer,       -- llm_call
            ADD COLUMN completion_tokens integer,   -- llm_call
            ADD COLUMN cost_usd double precision;   -- llm_call, when the agent knows its model's price
        UPDATE analytics.events SET prompt_tokens = (payload->>'prompt_tokens')::integer,
                                    completion_tokens = (payload->>'completion_tokens')::integer
        WHERE type = 'llm_call';
        ALTER TABLE analytics.hourly
            ADD COLUMN prompt_tokens bigint NOT NULL DEFAULT 0,
            ADD COLUMN completion_tokens bigint NOT NULL DEFAULT 0,
            ADD COLUMN cost_usd double precision NOT NULL DEFAULT 0;
        UPDATE analytics.hourly h SET prompt_tokens = s.prompt_tokens, completion_tokens = s.completion_tokens
        FROM (
            SELECT date_bin('1 hour', ts, '2000-01-01 00:00:00+00') AS hour, agent_id, type,
                   coalesce(status, '') AS status, coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
                   coalesce(sum(completion_tokens), 0) AS completion_tokens
            FROM analytics.events WHERE type = 'llm_call' GROUP BY 1, 2, 3, 4
        ) s
        WHERE (h.hour, h.agent_id, h.type, h.status) = (s.hour, s.agent_id, s.type, s.status);

        CREATE OR REPLACE FUNCTION analytics.roll_up() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO analytics.hourly AS h
                (hour, agent_id, type, status, events, tokens, latency_ms_sum, first_ts, last_ts,
                 prompt_tokens, completion_tokens, cost_usd)
            SELECT date_bin('1 hour', ts, '2000-01-01 00:00:00+00'), agent_id, type,
                   coalesce(status, ''), count(*), coalesce(sum(tokens), 0),
                   coalesce(sum(latency_ms), 0), min(ts), max(ts),
                   coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),
                   coalesce(sum(cost_usd), 0)
            FROM inserted
            GROUP BY 1, 2, 3, 4
            ORDER BY 1, 2, 3, 4
            ON CONFLICT (hour, agent_id, type, status) DO UPDATE SET
                events = h.events + excluded.events,
                tokens = h.tokens + excluded.tokens,
                latency_ms_sum = h.latency_ms_sum + excluded.latency_ms_sum,
                first_ts = least(h.first_ts, excluded.first_ts),
                last_ts = greatest(h.last_ts, excluded.last_ts),
                prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
                completion_tokens = h.completion_tokens + excluded.completion_tokens,
                cost_usd = h.cost_usd + excluded.cost_usd;
            RETURN NULL;
        END $$;
        """,
    ),
)


async def migrate(conn: asyncpg.Connection) -> int:
    """Apply the migrations this database lacks; return its schema version."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
        await conn.execute(
            """
            CREATE SCHEMA IF NOT EXISTS analytics;
            CREATE TABLE IF NOT EXISTS analytics.schema_version (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            """
        )
        current = await conn.fetchval(
            "SELECT coalesce(max(version), 0) FROM analytics.schema_version"
        )
        for version, name, sql in MIGRATIONS:
            if version > current:
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO analytics.schema_version (version, name) VALUES ($1, $2)",
                    version, name,
                )
                log.info("migration applied", version=version, name=name)
                current = version
        return current
