"""Text of past versions: a plain-text snapshot plus the deltas recorded after it.

Deltas are Yjs text deltas (UTF-8 byte offsets, as pycrdt reports them), so they
are replayed on a scratch pycrdt Text, which also makes each step cheap on long
documents (no copy of the whole string per delta).

A version's delta is recorded when its edit is applied, except for records applied
in bulk (a catch-up page, see node.BULK_RECORDS): computing a delta walks the whole
text in Yrs, which would make catching up cost time in proportion to the document
times the edits missed. The `HistoryBuilder` fills those in afterwards."""

import asyncio
import json
from contextlib import aclosing

import structlog
from prometheus_client import Gauge
from pycrdt import Doc, Text

from coedit.text_node.document import ReplicatedDocument
from coedit.text_node.store import STORAGE_ERRORS, Snapshot, Store

log = structlog.get_logger(__name__)

PENDING = Gauge(
    "coedit_text_history_pending_versions", "Versions whose text cannot be served yet (deltas still to compute)"
)

FILL_BATCH = 500  # deltas written per statement
DEBOUNCE_SECONDS = 0.5  # let consecutive catch-up pages arrive before replaying


def replay(text: str, deltas: list[list[dict]]) -> str:
    doc = Doc()
    scratch = doc.get("text", type=Text)
    with doc.transaction():
        scratch.insert(0, text)
        for delta in deltas:
            position = 0
            for step in delta:
                if "retain" in step:
                    position += step["retain"]
                elif "insert" in step:
                    scratch.insert(position, step["insert"])
                    position += len(step["insert"].encode())
                elif "delete" in step:
                    del scratch[position : position + step["delete"]]
    return str(scratch)


def delta_size(delta: list[dict]) -> int:
    return len(json.dumps(delta, ensure_ascii=False))


def snapshot_due(delta_chars_since: int, versions_since: int, text_chars: int) -> bool:
    """Take a text snapshot once the deltas since the last one outweigh the text
    itself (so snapshots never cost more than the deltas: storage stays linear in
    the edits) or once replay would pass 500 versions (keeps any version fast)."""
    return delta_chars_since >= max(text_chars, 4096) or versions_since >= 500


class HistoryBuilder:
    """Computes the deltas of versions that were applied without one, by replaying
    the node's log, in order, on a document of its own from the compacted CRDT
    snapshot (which the writer does not move past a version lacking its delta).
    Replaying without deltas costs microseconds a record, so only the records
    from the first one that needs a delta pay for the walk."""

    def __init__(self, store: Store, initial_text: str):
        self.store = store
        self.initial_text = initial_text
        self.complete = asyncio.Event()  # set when no version lacks its delta
        self._wake = asyncio.Event()
        self._wake.set()  # the first pass checks what a previous run left

    def wake(self) -> None:
        self.complete.clear()
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(DEBOUNCE_SECONDS)
            self._wake.clear()
            try:
                await self.fill()
            except Exception as error:  # e.g. the database is briefly away: try again later
                log.warning("history builder failed; retrying", error=repr(error),
                            exc_info=not isinstance(error, STORAGE_ERRORS))
                await asyncio.sleep(1)
                self._wake.set()
                continue
            if not self._wake.is_set():
                self.complete.set()

    async def fill(self) -> int:
        """Fill in every missing delta; return how many versions were filled."""
        missing, first_seq = await self.store.versions_without_delta()
        PENDING.set(len(missing))
        if not missing:
            return 0
        snapshot = await self.store.snapshot(self.initial_text)
        doc = ReplicatedDocument(self.initial_text, snapshot.generation)
        if snapshot.state:
            doc.apply_update(snapshot.state, delta=False)
        try:
            return await self._fill(doc, snapshot, missing, first_seq)
        finally:
            doc.close()

    async def _fill(self, doc: ReplicatedDocument, snapshot: Snapshot, missing: dict[str, int], first_seq: int) -> int:
        filled, total = [], len(missing)
        async with aclosing(self.store.records_after(snapshot.seq, snapshot.generation.number)) as records:
            async for row in records:
                edit_id = row["record_id"] if row["kind"] == "edit" else None
                change = doc.apply_update(row["update"], edit_id, delta=row["seq"] >= first_seq)
                new = [edit_id for edit_id, _ in change.new_edits if edit_id in missing]
                if new:
                    # as the writer does: the record's delta goes with its last version
                    last = max(new, key=missing.get)
                    filled += [(missing.pop(e), change.delta if e == last else []) for e in new]
                if len(filled) >= FILL_BATCH or (filled and not missing):
                    await self.store.fill_deltas(filled)
                    filled = []
                    PENDING.set(len(missing))
                if not missing:
                    break
        if missing:
            log.warning("versions whose record is not in the log; their history stays incomplete",
                        versions=sorted(missing.values())[:10])
        log.info("history filled in", versions=total - len(missing))
        return total - len(missing)
