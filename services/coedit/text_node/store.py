"""The node's own PostgreSQL: the record log (every CRDT update it integrated, in
order), one row per version (edit metadata and the text delta it made, NULL until
the history builder computes it for a version applied in bulk), plain-text
snapshots for serving history, one compacted CRDT snapshot for fast start-up, and
where it stands with each peer."""

import base64
import json
import uuid
from dataclasses import astuple, dataclass, field

import asyncpg
from pycrdt import merge_updates

from coedit.text_node.document import Generation, first_generation

# What a database that is away (stopped, restarting, unreachable) raises: callers answer
# 503 storage_unavailable, never a 500.
STORAGE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                  asyncpg.exceptions.OperatorInterventionError)

SCHEMA = [
    # version 1
    """
    CREATE TABLE node_meta (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE log (
        seq bigserial PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('edit', 'spend', 'sync')),
        record_id text NOT NULL,
        origin text NOT NULL,
        update bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (kind, record_id)
    );
    CREATE INDEX log_origin_seq ON log (origin, seq);  -- peers read a node's own records
    CREATE TABLE versions (
        version integer PRIMARY KEY,
        edit_id text NOT NULL UNIQUE,
        metadata jsonb NOT NULL,
        delta jsonb NOT NULL,
        client bigint,  -- the edit's CRDT client id and end clock, for counting
        clock bigint    -- what a peer's state vector lacks
    );
    CREATE TABLE text_snapshots (version integer PRIMARY KEY, text text NOT NULL);
    CREATE TABLE crdt_snapshot (
        id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, state bytea NOT NULL
    );
    CREATE TABLE peer_cursors (peer text PRIMARY KEY, epoch text NOT NULL, seq bigint NOT NULL);
    """,
    # version 2: a version applied in bulk gets its delta later, from the history builder
    "ALTER TABLE versions ALTER COLUMN delta DROP NOT NULL;",
    # version 3: people (people.py): a person's text records, and the text deltas that
    # follow a version without starting one (a person typing on)
    """
    ALTER TABLE log DROP CONSTRAINT log_kind_check;
    ALTER TABLE log ADD CONSTRAINT log_kind_check CHECK (kind IN ('edit', 'spend', 'sync', 'text'));
    CREATE TABLE text_deltas (
        id bigserial PRIMARY KEY,
        version integer NOT NULL,  -- applied after this version's own delta
        delta jsonb NOT NULL
    );
    CREATE INDEX text_deltas_version ON text_deltas (version, id);
    """,
    # version 4: document generations (generations.py): each record and the compacted
    # snapshot belong to one; a generation's first update and where it began
    """
    ALTER TABLE log ADD COLUMN generation integer NOT NULL DEFAULT 0;
    ALTER TABLE crdt_snapshot ADD COLUMN generation integer NOT NULL DEFAULT 0;
    CREATE TABLE generations (
        number integer PRIMARY KEY,
        base_version integer NOT NULL,  -- the edits all earlier generations held
        genesis bytea NOT NULL,
        digest text NOT NULL,  -- what the nodes agreed on
        first_seq bigint NOT NULL,  -- its records come after this log position
        created_at timestamptz NOT NULL DEFAULT now()
    );
    """,
]


# JSON goes as text: asyncpg would read a list as an array
COMMIT = """
WITH new_log AS (
    INSERT INTO log (kind, record_id, origin, update, generation)
    SELECT *, $18::integer FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[])
    ON CONFLICT (kind, record_id) DO NOTHING
    RETURNING seq, kind, record_id
), new_versions AS (
    INSERT INTO versions
    SELECT v, e, m::jsonb, d::jsonb, c, k
    FROM unnest($5::integer[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[])
        AS t(v, e, m, d, c, k)
), new_snapshot AS (
    INSERT INTO text_snapshots SELECT $11::integer, $12::text WHERE $11 IS NOT NULL
    ON CONFLICT DO NOTHING
), moved_cursors AS (
    INSERT INTO peer_cursors SELECT * FROM unnest($13::text[], $14::text[], $15::bigint[])
    ON CONFLICT (peer) DO UPDATE SET epoch = EXCLUDED.epoch, seq = EXCLUDED.seq
), new_text_deltas AS (
    INSERT INTO text_deltas (version, delta)
    SELECT v, d::jsonb FROM unnest($16::integer[], $17::text[]) WITH ORDINALITY AS t(v, d, n) ORDER BY n
)
SELECT seq, kind, record_id FROM new_log
"""


@dataclass
class LogRow:
    kind: str
    record_id: str
    origin: str
    update: bytes


@dataclass(frozen=True)
class Snapshot:
    """Where the document is rebuilt from: its generation, and the compacted state
    of that generation up to log position `seq` (None: its genesis alone)."""

    generation: Generation
    seq: int
    state: bytes | None


@dataclass
class VersionRow:
    version: int
    edit_id: str
    metadata: str  # JSON text, as the CRDT holds it
    delta: list | None  # None until the history builder computes it
    client: int | None  # the edit's CRDT client id and end clock
    clock: int | None


@dataclass
class Batch:
    """Everything one group commit writes, in one transaction."""

    log: list[LogRow] = field(default_factory=list)
    versions: list[VersionRow] = field(default_factory=list)
    text_snapshot: tuple[int, str] | None = None
    cursors: dict[str, tuple[str, int]] = field(default_factory=dict)
    # (latest version, delta) of each record that changed the text without adding a version
    text_deltas: list[tuple[int, list]] = field(default_factory=list)
    generation: int = 0  # the document generation its records belong to

    def __bool__(self) -> bool:
        return bool(self.log or self.versions or self.cursors)


def encode(update: bytes) -> str:
    return base64.b64encode(update).decode()


def decode(update: str) -> bytes:
    return base64.b64decode(update)


class Store:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    @classmethod
    async def connect(cls, database_url: str) -> "Store":
        # bounded waits: a database that stops answering gives errors, not hung requests
        pool = await asyncpg.create_pool(
            database_url, min_size=2, max_size=8, init=_codecs, connection_class=_Connection,
            timeout=5, command_timeout=30,
        )
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    async def migrate(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(727001)")
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
            current = await conn.fetchval("SELECT max(version) FROM schema_version") or 0
            for number, statement in enumerate(SCHEMA[current:], start=current + 1):
                await conn.execute(statement)
                await conn.execute("INSERT INTO schema_version VALUES ($1)", number)

    async def meta(self, key: str, default_factory) -> str:
        """A node-wide value, created once (e.g. this database's epoch)."""
        value = await self.pool.fetchval(
            "INSERT INTO node_meta VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key"
            " RETURNING value",
            key, default_factory(),
        )
        return value

    async def epoch(self) -> str:
        return await self.meta("epoch", lambda: uuid.uuid4().hex)

    async def commit(self, batch: Batch) -> list[int]:
        """Write the batch atomically; return the log sequence numbers given to its
        records (0 for one already there). One statement, so one round trip: its
        data-modifying parts run exactly once and all or nothing."""
        versions = list(zip(*(astuple(row) for row in batch.versions))) or [()] * 6
        snapshot_version, snapshot_text = batch.text_snapshot or (None, None)
        peers = [(peer, epoch, seq) for peer, (epoch, seq) in batch.cursors.items()]
        rows = await self.pool.fetch(
            COMMIT,
            [r.kind for r in batch.log], [r.record_id for r in batch.log],
            [r.origin for r in batch.log], [r.update for r in batch.log],
            versions[0], versions[1], versions[2], [_json(d) for d in versions[3]],
            versions[4], versions[5],
            snapshot_version, snapshot_text,
            [p[0] for p in peers], [p[1] for p in peers], [p[2] for p in peers],
            [v for v, _ in batch.text_deltas], [_json(d) for _, d in batch.text_deltas],
            batch.generation,
        )
        by_key = {(r["kind"], r["record_id"]): r["seq"] for r in rows}
        return [by_key.get((r.kind, r.record_id), 0) for r in batch.log]

    # -- start-up --
    async def snapshot(self, initial_text: str) -> Snapshot:
        """The latest generation and its compacted state."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            row = await conn.fetchrow(
                "SELECT number, base_version, genesis, digest, first_seq FROM generations"
                " ORDER BY number DESC LIMIT 1"
            )
            generation, first_seq = (
                (Generation(row["number"], row["base_version"], row["genesis"], row["digest"]), row["first_seq"])
                if row
                else (first_generation(initial_text), 0)
            )
            compacted = await conn.fetchrow(
                "SELECT seq, state FROM crdt_snapshot WHERE id = 1 AND generation = $1", generation.number
            )
        return Snapshot(generation, *((compacted["seq"], compacted["state"]) if compacted else (first_seq, None)))

    async def save_crdt_snapshot(self, generation: int, seq: int, state: bytes) -> None:
        await self.pool.execute(
            "INSERT INTO crdt_snapshot VALUES (1, $2, $3, $1) ON CONFLICT (id) DO UPDATE"
            " SET seq = EXCLUDED.seq, state = EXCLUDED.state, generation = EXCLUDED.generation"
            " WHERE (crdt_snapshot.generation, crdt_snapshot.seq) < (EXCLUDED.generation, EXCLUDED.seq)",
            generation, seq, state,
        )

    async def start_generation(self, generation: Generation, first_seq: int) -> None:
        """Switch to `generation` (its records come after `first_seq`), in one
        transaction: the node restarts in it whatever happens next."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO generations (number, base_version, genesis, digest, first_seq)"
                " VALUES ($1, $2, $3, $4, $5)",
                generation.number, generation.base_version, generation.genesis, generation.digest, first_seq,
            )
            await conn.execute("DELETE FROM crdt_snapshot")
            await conn.execute("DELETE FROM node_meta WHERE key = 'frozen'")

    async def generation(self, number: int) -> Generation | None:
        row = await self.pool.fetchrow(
            "SELECT number, base_version, genesis, digest FROM generations WHERE number = $1", number
        )
        return Generation(row["number"], row["base_version"], row["genesis"], row["digest"]) if row else None

    async def generation_digests(self) -> list[str]:
        return [r["digest"] for r in await self.pool.fetch("SELECT digest FROM generations ORDER BY number")]

    async def records_after(self, seq: int, generation: int, up_to: int | None = None):
        """Every record of `generation` after `seq` (up to `up_to`), in log order,
        streamed (the log can be long)."""
        async with self.pool.acquire() as conn, conn.transaction():
            query = ("SELECT seq, kind, record_id, update FROM log WHERE seq > $1 AND generation = $2"
                     " AND ($3::bigint IS NULL OR seq <= $3) ORDER BY seq")
            async for row in conn.cursor(query, seq, generation, up_to):
                yield row

    async def merged_log(self, generation: int, chunk: int = 500) -> bytes:
        """The generation's whole log as one CRDT update (pending records included: a
        merge keeps what an encoding of a live document leaves out). Merged in
        chunks: merging many small updates at once costs more than in proportion."""
        merged, updates = [], []
        async for row in self.records_after(0, generation):
            updates.append(row["update"])
            if len(updates) == chunk:
                merged.append(merge_updates(*updates))
                updates = []
        return merge_updates(*merged, *updates)

    async def version_summary(self) -> tuple[int, int]:
        """(rows, highest version) of the versions table: equal when numbered without gaps."""
        row = await self.pool.fetchrow("SELECT count(*) AS n, coalesce(max(version), 0) AS top FROM versions")
        return row["n"], row["top"]

    async def version_edit_ids(self, after_version: int) -> set[str]:
        rows = await self.pool.fetch("SELECT edit_id FROM versions WHERE version > $1", after_version)
        return {r["edit_id"] for r in rows}

    async def edit_clocks(self, after_version: int) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT client, clock FROM versions WHERE version > $1 AND client IS NOT NULL", after_version
        )

    async def version_of(self, edit_id: str, up_to: int) -> asyncpg.Record | None:
        """The version row of an edit of an earlier generation (at most version `up_to`)."""
        return await self.pool.fetchrow(
            "SELECT version, metadata FROM versions WHERE edit_id = $1 AND version <= $2", edit_id, up_to
        )

    async def frozen(self) -> int | None:
        """The generation this node froze in (generations.py), if it did and has not switched since."""
        value = await self.pool.fetchval("SELECT value FROM node_meta WHERE key = 'frozen'")
        return None if value is None else int(value)

    async def freeze(self, generation: int) -> None:
        await self.pool.execute(
            "INSERT INTO node_meta VALUES ('frozen', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            str(generation),
        )

    async def max_seq(self, origin: str | None = None) -> int:
        return await self.pool.fetchval(
            "SELECT coalesce(max(seq), 0) FROM log WHERE $1::text IS NULL OR origin = $1", origin
        )

    async def history_since_snapshot(self) -> tuple[int, int]:
        """(characters of deltas, versions) written since the latest text snapshot."""
        row = await self.pool.fetchrow(
            "SELECT coalesce(sum(length(delta::text)), 0) AS size, count(*) AS n FROM versions"
            " WHERE version > (SELECT coalesce(max(version), 0) FROM text_snapshots)"
        )
        return row["size"], row["n"]

    async def cursors(self) -> dict[str, tuple[str, int]]:
        rows = await self.pool.fetch("SELECT peer, epoch, seq FROM peer_cursors")
        return {r["peer"]: (r["epoch"], r["seq"]) for r in rows}

    # -- reads for the API and for peers --
    async def log_page(self, after: int, limit: int, origin: str) -> tuple[list[asyncpg.Record], int]:
        """The records `origin` accepted from its own clients after `after`, and the
        log position the page covers up to."""
        async with self.pool.acquire() as conn:
            # rows up to the current maximum are all committed: one writer, in seq order
            covered = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM log")
            rows = await conn.fetch(
                "SELECT seq, kind, record_id, origin, update, generation FROM log"
                " WHERE seq > $1 AND seq <= $2 AND origin = $3 ORDER BY seq LIMIT $4",
                after, covered, origin, limit,
            )
        if len(rows) == limit:
            covered = rows[-1]["seq"]
        return rows, max(covered, after)

    async def edits_after(self, after_version: int, limit: int) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT version, edit_id, metadata FROM versions WHERE version > $1"
            " ORDER BY version LIMIT $2",
            after_version, limit,
        )

    async def versions_without_delta(self) -> tuple[dict[str, int], int]:
        """Edit id -> version of every version lacking its delta, and the first log
        position that can have integrated one of them (0 when one came inside a
        sync record and has no record of its own)."""
        rows = await self.pool.fetch(
            "SELECT v.version, v.edit_id, l.seq FROM versions v"
            " LEFT JOIN log l ON l.kind = 'edit' AND l.record_id = v.edit_id WHERE v.delta IS NULL"
        )
        seqs = [r["seq"] for r in rows]
        first = 0 if None in seqs else min(seqs, default=0)
        return {r["edit_id"]: r["version"] for r in rows}, first

    async def fill_deltas(self, deltas: list[tuple[int, list]]) -> None:
        versions, texts = zip(*((version, _json(delta)) for version, delta in deltas))
        await self.pool.execute(
            "UPDATE versions SET delta = d.delta::jsonb FROM unnest($1::integer[], $2::text[]) AS d(version, delta)"
            " WHERE versions.version = d.version AND versions.delta IS NULL",
            versions, texts,
        )

    async def history_for(self, version: int) -> tuple[int, str, list[list[dict]]] | None:
        """The nearest text snapshot at or before `version` and the deltas after it:
        each version's own, then the text deltas that followed it (a person typing on)."""
        async with self.pool.acquire() as conn:
            snapshot = await conn.fetchrow(
                "SELECT version, text FROM text_snapshots WHERE version <= $1"
                " ORDER BY version DESC LIMIT 1",
                version,
            )
            if snapshot is None:
                return None
            deltas = await conn.fetch(
                "SELECT delta FROM (SELECT version, 0 AS part, 0::bigint AS id, delta FROM versions"
                " WHERE version > $1 AND version <= $2 UNION ALL SELECT version, 1, id, delta FROM text_deltas"
                " WHERE version >= $1 AND version <= $2) AS d ORDER BY version, part, id",
                snapshot["version"], version,
            )
            return snapshot["version"], snapshot["text"], [r["delta"] for r in deltas]


class _Connection(asyncpg.Connection):
    """The node sets no session state (no SET, LISTEN or session-level advisory
    lock), so a connection going back to the pool needs no RESET ALL round trip."""

    def get_reset_query(self) -> str:
        return ""


def _json(value) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


async def _codecs(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
