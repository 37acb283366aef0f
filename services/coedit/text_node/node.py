"""The text node's core: one writer task serialises every change to the document,
so anchors resolve against the text they commit on, and commits are grouped: all
the changes queued while the previous commit was in flight share the next one."""

import asyncio
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from prometheus_client import Counter, Gauge, Histogram

from pycrdt import get_update, merge_updates

from coedit.common.anchors import AnchorError
from coedit.text_node import budget, history
from coedit.text_node.document import Change, Generation, ReplicatedDocument, first_generation
from coedit.text_node.errors import (
    BudgetExhausted,
    ChangeFailed,
    DocumentError,
    DocumentSwitching,
    DocumentTooLarge,
    EditInProgress,
    EditTooLarge,
    HistoryCatchingUp,
    InvalidUpdate,
    StorageInconsistent,
    StorageUnavailable,
)
from coedit.text_node.memory import release_freed_memory
from coedit.text_node.models import EditAccepted, EditRequest, LogRecord, text_digest
from coedit.text_node.settings import TextNodeSettings
from coedit.text_node.store import STORAGE_ERRORS, Batch, LogRow, Store, VersionRow, decode, encode

log = structlog.get_logger(__name__)
tracer = trace.get_tracer("coedit.text_node")

EDITS = Counter("coedit_text_edits_total", "Edits answered by this node", ["outcome"])
VERSION = Gauge("coedit_text_version", "Edits this node holds (its document version)")
GENERATION = Gauge("coedit_text_generation", "The document generation this node is in (generations.py)")
TOKENS_SPENT = Gauge("coedit_budget_tokens_spent", "Tokens spent in the session, as this node sees it")
TOKENS_RESERVED = Gauge("coedit_budget_tokens_reserved", "Tokens held by open reservations, as this node sees it")
TOKENS_LIMIT = Gauge("coedit_budget_tokens_limit", "The session's token budget")
COMMIT_SIZE = Histogram(
    "coedit_text_group_commit_records", "Records per group commit",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
COMMIT_SECONDS = Histogram("coedit_text_commit_seconds", "Duration of one group commit")

MAX_BATCH = 1000
# A batch of peer records at least this large (a catch-up page) is applied without
# text deltas: each delta walks the whole text in Yrs, so the history builder
# computes them afterwards, off the path that makes the node current.
BULK_RECORDS = 64
HISTORY_WAIT_SECONDS = 10.0  # a read of such a version waits this long for the builder, then 503
SWITCH_WAIT_SECONDS = 10.0  # a write waits this long for a document switch to end, then 503
LOOKUP_WAIT_SECONDS = 30.0  # a lookup waits this long for a POST of the same edit on its way, then 503
PERSON_EDIT_PREFIX = "human-"  # the edit id of a version a person's typing starts (people.py)


@dataclass
class Committed:
    """What readers see: the state as of the last commit (never an unacknowledged edit)."""

    utf8: bytes
    version: int
    budget: budget.View

    @cached_property
    def text(self) -> str:
        return self.utf8.decode()

    @cached_property
    def digest(self) -> str:
        return text_digest(self.utf8)


@dataclass
class Work:
    """One change for the writer; `TextNode.submit` queues it and waits for its outcome."""

    writes: ClassVar[bool] = True  # changes what this node's clients see (held while the node is frozen)
    future: asyncio.Future = field(init=False, repr=False)
    # the trace of the request that queued the work, so replicating its records
    # to the peers shows up in the same trace
    trace_context: otel_context.Context = field(default_factory=otel_context.get_current, kw_only=True)


@dataclass
class EditWork(Work):
    request: EditRequest


@dataclass
class LookupWork(Work):
    """Whether an edit id is applied here: answered (its first outcome, or None) once
    the commit it may be part of is done, so it never tells of an edit a failed
    commit takes back."""

    edit_id: str
    writes: ClassVar[bool] = False


@dataclass
class BudgetWork(Work):
    """A change to the budget ledger: `decide(ledger)` returns the entry to write
    (None: nothing to write) and the answer (see budget_service.py)."""

    decide: object


@dataclass(frozen=True)
class Written:
    """What a BudgetWork answers: the decision's answer, and the entry written with
    its CRDT update (None when nothing was), which a peer asking for rights applies."""

    answer: object
    entry: budget.Entry | None = None
    update: bytes | None = None
    generation: int = 0  # the document generation the update belongs to


@dataclass
class Arrival:
    """POSTs of one edit id on their way to the writer."""

    posts: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class PersonWork(Work):
    """A person's change (people.py): queued and committed like any other, its
    logic kept beside the Yjs protocol it comes from."""

    def apply(self, node: "TextNode", batch: Batch):
        raise NotImplementedError


@dataclass
class RemoteWork(Work):
    """Records from `peer`'s log: every record it has after `after_seq` up to
    `last_seq` (a pulled page or a push), or `after_seq=None` when not contiguous."""

    peer: str
    epoch: str
    records: list[LogRecord]
    after_seq: int | None
    last_seq: int
    writes: ClassVar[bool] = False  # what peers hold already: a frozen node takes it in to agree with them


@dataclass
class GenerationWork(Work):
    """A step of restarting the document in a new generation (generations.py)."""

    writes: ClassVar[bool] = False


@dataclass
class FreezeWork(GenerationWork):
    """Stop taking writes in the current generation, for good."""


@dataclass
class SwitchWork(GenerationWork):
    """Start the next generation, if its digest is the one the peers agreed on."""

    digest: str


class TextNode:
    def __init__(self, settings: TextNodeSettings, store: Store):
        self.settings = settings
        self.node_id = settings.node_id
        self.store = store
        self.queue: asyncio.Queue[Work] = asyncio.Queue()
        self.doc = ReplicatedDocument(settings.initial_text)
        self.committed = Committed(settings.initial_text.encode(), 0, self.doc.ledger.view(settings.token_budget))
        self.writer: budget.Writer | None = None  # known once the database's epoch is
        self.history = history.HistoryBuilder(store, settings.initial_text)
        self.epoch = ""
        self.last_seq = 0
        self.last_own_seq = 0  # the log position of the last record our own clients wrote
        self.cursors: dict[str, tuple[str, int]] = {}
        # callbacks(position of our previous own record, records, trace contexts) after each commit
        self.on_commit: list = []
        # callbacks(records) as peers' records are queued, before this node commits them
        self.on_remote: list = []
        # callbacks(the previous generation's document, closed after them) once the node
        # has switched to a new document generation (generations.py)
        self.on_switch: list = []
        self._history_chars = self._history_versions = self._since_compaction = 0
        self.storage_ok = False  # the last commit or load reached the database
        # Frozen: the node takes no more writes in this generation and waits to switch
        # to the next (generations.py); writes wait on `thawed`.
        self.frozen = False
        self.thawed = asyncio.Event()
        self.generation_digests: list[str] = []  # of each generation after the first, in order
        self._next_generation: tuple[tuple, Generation] | None = None
        # the answers to the previous generation's edits: a change queued before the
        # switch is applied after it, and must find them (older ones: `_earlier_outcome`)
        self._previous_outcomes: dict[str, tuple[int, str]] = {}  # edit id -> (version, node id)
        self._arriving: dict[str, Arrival] = {}
        self._writer: asyncio.Task | None = None
        self._history_task: asyncio.Task | None = None
        TOKENS_LIMIT.set(settings.token_budget)

    # -- life cycle --
    async def start(self) -> None:
        await self.store.migrate()
        self.epoch = await self.store.epoch()
        self.writer = budget.writer_for(self.node_id, self.epoch, self.settings.token_budget,
                                        1 + len(self.settings.peer_urls))
        await self._load()
        self._writer = asyncio.create_task(self._write_loop(), name="text-node-writer")

    def start_history(self) -> None:
        """Start filling in deltas of versions applied in bulk (after the start-up
        catch-up, so it does not compete with it)."""
        self._history_task = asyncio.create_task(self.history.run(), name="text-node-history")

    async def stop(self) -> None:
        tasks = [t for t in (self._writer, self._history_task) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _load(self) -> None:
        """Rebuild the document: its generation's compacted snapshot, then the records after it."""
        snapshot = await self.store.snapshot(self.settings.initial_text)
        self.doc.close()
        self.doc = ReplicatedDocument(self.settings.initial_text, snapshot.generation)
        if snapshot.state:
            self.doc.apply_update(snapshot.state, delta=False)
        self.last_seq, self._since_compaction = snapshot.seq, 0
        async for row in self.store.records_after(snapshot.seq, snapshot.generation.number):
            edit_id = row["record_id"] if row["kind"] == "edit" else None
            self.doc.apply_update(row["update"], edit_id, delta=False)
            self.last_seq, self._since_compaction = row["seq"], self._since_compaction + 1
        await self._reconcile_versions()
        base = self.doc.generation.base_version
        self.doc.reset_clocks([(r["client"], r["clock"]) for r in await self.store.edit_clocks(base)])
        self.generation_digests = await self.store.generation_digests()
        self._set_frozen(await self.store.frozen() == self.doc.generation.number)
        self.last_seq = max(self.last_seq, await self.store.max_seq())
        self.last_own_seq = await self.store.max_seq(self.node_id)
        await self.store.commit(Batch(text_snapshot=(0, self.settings.initial_text)))
        self._history_chars, self._history_versions = await self.store.history_since_snapshot()
        self.cursors = await self.store.cursors()
        self.storage_ok = True
        self._publish()
        log.info("document loaded", version=self.doc.version, generation=self.doc.generation.number,
                 records_replayed=self._since_compaction, frozen=self.frozen)

    async def _reconcile_versions(self) -> None:
        """Make the document hold exactly the edits the `versions` table numbers, so
        the next version number is free. Replaying records one at a time can leave
        some pending in Yrs that the running node had integrated (Yrs does not always
        retry pending records when their dependencies arrive), and a snapshot written
        by an older node could lack records pending at the time: then the whole log,
        merged into one update, integrates them. An edit it integrates that no
        version numbers yet gets the next numbers (its text delta from that update)."""
        count, highest = await self.store.version_summary()
        if count != highest:
            raise StorageInconsistent(f"the versions table has gaps: {count} rows up to version {highest}")
        if self.doc.version == count:
            return
        log.warning("replay disagrees with the versions table; merging the whole log", version=self.doc.version,
                    versions=count)
        generation = self.doc.generation
        change = self.doc.apply_update(await self.store.merged_log(generation.number), delta=True)
        numbered = await self.store.version_edit_ids(generation.base_version)
        if lost := numbered - set(self.doc.edits.keys()):
            raise StorageInconsistent(
                f"{len(lost)} numbered edits are not in this node's log (e.g. {sorted(lost)[:3]})"
            )
        new = [(edit_id, metadata) for edit_id, metadata in change.new_edits if edit_id not in numbered]
        if count + len(new) != self.doc.version:
            raise StorageInconsistent(
                f"the log holds {self.doc.version} edits, the versions table {count}, and it cannot be completed"
            )
        batch = Batch()
        for offset, (edit_id, metadata) in enumerate(new):
            delta = change.delta if offset == len(new) - 1 else []
            client, clock = change.clocks.get(edit_id, (None, None))
            batch.versions.append(VersionRow(count + offset + 1, edit_id, metadata, delta, client, clock))
        if batch:
            await self.store.commit(batch)
        log.warning("versions reconciled with the log", numbered_now=len(new), version=self.doc.version)

    def _publish(self) -> None:
        self.committed = Committed(self.doc.utf8(), self.doc.version,
                                   self.doc.ledger.view(self.settings.token_budget))
        VERSION.set(self.committed.version)
        GENERATION.set(self.doc.generation.number)
        TOKENS_SPENT.set(self.committed.budget.spent)
        TOKENS_RESERVED.set(self.committed.budget.reserved)

    # -- the public operations: queue, then wait for the commit --
    async def submit(self, work: Work):
        """Queue `work` for the writer; its outcome once committed (or its DocumentError).
        A write waits while the node is frozen, to be applied in the next generation."""
        if work.writes and self.frozen:
            try:
                await asyncio.wait_for(self.thawed.wait(), SWITCH_WAIT_SECONDS)
            except TimeoutError:
                raise DocumentSwitching("the document is being restarted in a new generation; retry") from None
        if (earlier := await self._earlier_outcome(work)) is not None:
            return earlier
        return await self.enqueue(work)

    async def _earlier_outcome(self, work: Work) -> EditAccepted | None:
        """The answer to an edit (or its lookup) of an earlier generation: it is in
        the versions table, no longer in the document."""
        base = self.doc.generation.base_version
        if not base or not isinstance(work, EditWork | LookupWork):
            return None
        edit_id = work.request.edit_id if isinstance(work, EditWork) else work.edit_id
        try:
            row = await self.store.version_of(edit_id, base)
        except STORAGE_ERRORS:
            raise StorageUnavailable("the node's database is unreachable; retry") from None
        if row is None:
            return None
        if isinstance(work, EditWork):
            EDITS.labels("duplicate").inc()
        return EditAccepted(edit_id=edit_id, version=row["metadata"]["origin_version"],
                            node_id=row["metadata"]["node_id"])

    def _set_frozen(self, frozen: bool) -> None:
        self.frozen = frozen
        if frozen:
            self.thawed.clear()
        else:
            self.thawed.set()

    @contextmanager
    def arriving(self, edit_id: str):
        """Mark a POST of `edit_id` on its way to the writer (its rate limit, budget
        rights asked of peers): a lookup meanwhile waits for it rather than answer
        that the node holds no such edit, which a caller may take as leave to send
        it to another node."""
        arrival = self._arriving.setdefault(edit_id, Arrival())
        arrival.posts += 1
        try:
            yield
        finally:
            arrival.posts -= 1
            if not arrival.posts:
                del self._arriving[edit_id]
                arrival.done.set()

    async def lookup(self, edit_id: str) -> EditAccepted | None:
        """The first outcome of `edit_id` here (None: the node holds no such edit),
        once no POST of it is on its way and any commit it may be in is done."""
        if (arrival := self._arriving.get(edit_id)) is not None:
            try:
                await asyncio.wait_for(arrival.done.wait(), LOOKUP_WAIT_SECONDS)
            except TimeoutError:
                raise EditInProgress("a POST of this edit is still on its way to being applied here; retry") from None
        return await self.submit(LookupWork(edit_id))

    def enqueue(self, work: Work) -> asyncio.Future:
        """Queue `work` for the writer (refused at once while the database is away); the
        future of its outcome."""
        if not self.storage_ok:
            raise StorageUnavailable("the node's database is unreachable; retry")
        work.future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(work)  # unbounded
        if isinstance(work, RemoteWork):  # after the put: a change made on what they send is queued after it
            ours = [r for r in work.records if r.generation == self.doc.generation.number]
            for callback in self.on_remote:
                callback(ours)
        return work.future

    # -- the writer --
    async def _write_loop(self) -> None:
        """The node's one writer. Nothing it meets ends it: a node whose writer ended
        would stay ready and leave every change it queues unanswered."""
        while True:
            items = [await self.queue.get()]
            while not self.queue.empty() and len(items) < MAX_BATCH:
                items.append(self.queue.get_nowait())
            try:
                await self._process(items)
            except Exception:  # a bug past the commit: what the node holds may not be what it wrote
                log.exception("the writer failed; reloading the document from the database")
                for item in items:
                    _settle(item.future, ChangeFailed("the node could not finish this change; it may be applied"))
                self.storage_ok = False
                await self._reload_until_ok()

    async def _process(self, items: list[Work]) -> None:
        """Group-commit the items, in order; a generation step goes alone, between commits."""
        start = 0
        for index, item in enumerate(items):
            if isinstance(item, GenerationWork):
                if start < index:
                    await self._commit_group(items[start:index])
                await self._generation_step(item)
                start = index + 1
        if start < len(items):
            await self._commit_group(items[start:])

    async def _commit_group(self, items: list[Work]) -> None:
        if self.frozen:  # writes queued just before the freeze wait for the next generation
            for item in items:
                if item.writes:
                    asyncio.ensure_future(self._after_thaw(item))
            if not (items := [item for item in items if not item.writes]):
                return
        batch, outcomes, contexts = Batch(generation=self.doc.generation.number), [], []
        for item in items:
            staged = len(batch.log)
            try:
                outcomes.append(self._apply(item, batch))
            except (DocumentError, AnchorError) as error:
                outcomes.append(error)
            except Exception:  # a bug must not stop the writer; the request gets a 500
                log.exception("could not apply a change", work=type(item).__name__)
                outcomes.append(ChangeFailed("the node could not apply this change"))
            contexts += [item.trace_context] * (len(batch.log) - staged)
        prev_own_seq = self.last_own_seq
        try:
            with COMMIT_SECONDS.time(), joined_span("text.group_commit", [i.trace_context for i in items]):
                seqs = await self.store.commit(batch) if batch else []
        except Exception as error:  # a database away is expected: no traceback for it, one for anything else
            log.warning("commit failed; reloading the document from the database", error=repr(error),
                        exc_info=not isinstance(error, STORAGE_ERRORS))
            self.storage_ok = False
            for item in items:
                _settle(item.future, StorageUnavailable("the commit failed; nothing was changed; retry"))
            await self._reload_until_ok()
            return
        COMMIT_SIZE.observe(len(batch.log))
        self.cursors.update(batch.cursors)
        self.last_seq = max([self.last_seq, *seqs])
        self.last_own_seq = max(
            [self.last_own_seq, *(seq for seq, row in zip(seqs, batch.log) if row.origin == self.node_id)]
        )
        self._publish()
        for item, outcome in zip(items, outcomes):
            _settle(item.future, outcome)
        committed = [
            (LogRecord(seq=seq, kind=row.kind, record_id=row.record_id, origin=row.origin,
                       update=encode(row.update), generation=batch.generation), context)
            for seq, row, context in zip(seqs, batch.log, contexts) if seq
        ]
        records = [record for record, _ in committed]
        if records:
            for callback in self.on_commit:  # a listener's failure must not stop the writer
                try:
                    callback(prev_own_seq, records, [context for _, context in committed])
                except Exception:
                    log.exception("a commit listener failed; the commit stands", listener=repr(callback))
        self._since_compaction += len(records)
        if any(row.delta is None for row in batch.versions):
            self.history.wake()
        # the builder replays from the compacted snapshot, so it may not pass a version lacking its delta
        if self._since_compaction >= self.settings.compact_every and self.history.complete.is_set():
            try:
                await self._compact()
            except STORAGE_ERRORS as error:  # the next commit finds out whether the database is away
                log.warning("compaction failed; tried again after the next commit", error=repr(error))

    async def _compact(self) -> None:
        """Save the log so far as one CRDT update, merged from the previous snapshot
        and the records after it, not encoded from the live document: Yrs leaves out
        of its encoding the records it holds pending (waiting for what they depend
        on), and a snapshot without them would lose them at the next start."""
        snapshot = await self.store.snapshot(self.settings.initial_text)
        generation = self.doc.generation.number
        if snapshot.generation.number != generation:
            return  # switched meanwhile: the new generation's snapshot comes later
        updates = [row["update"] async for row in
                   self.store.records_after(snapshot.seq, generation, up_to=self.last_seq)]
        await self.store.save_crdt_snapshot(generation, self.last_seq,
                                            merge_updates(*filter(None, [snapshot.state]), *updates))
        self._since_compaction = 0
        log.info("log compacted", up_to_seq=self.last_seq, records=len(updates))
        del snapshot, updates
        release_freed_memory()

    async def _reload_until_ok(self) -> None:
        """Reload from the database until it answers again. Meanwhile every queued
        change is answered 503 at once: a caller never waits on a database that is away."""
        delay = 0.5
        while True:
            try:
                await self._load()
                return
            except StorageInconsistent:
                log.exception("the database cannot rebuild this node's document; it stays unready")
                self._refuse_queued()
                await asyncio.sleep(5)
            except Exception as error:
                log.warning("reload failed; the database is unreachable", retry_in=delay, error=repr(error),
                            exc_info=not isinstance(error, STORAGE_ERRORS))
                self._refuse_queued()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)

    def _refuse_queued(self) -> None:
        while not self.queue.empty():
            _settle(self.queue.get_nowait().future, StorageUnavailable("the node's database is unreachable; retry"))

    async def _after_thaw(self, item: Work) -> None:
        """Queue a write again once the node has switched (or refuse it, as `submit` does)."""
        try:
            await asyncio.wait_for(self.thawed.wait(), SWITCH_WAIT_SECONDS)
        except TimeoutError:
            _settle(item.future, DocumentSwitching("the document is being restarted in a new generation; retry"))
            return
        self.queue.put_nowait(item)  # an edit of the generation before is found by `first_outcome`

    def _apply(self, item: Work, batch: Batch):
        match item:
            case EditWork(request=request):
                return self._apply_edit(request, batch)
            case LookupWork(edit_id=edit_id):
                return self.first_outcome(edit_id)
            case BudgetWork(decide=decide):
                return self._apply_budget(decide, batch)
            case RemoteWork():
                return self._apply_remote(item, batch)
            case PersonWork():
                return item.apply(self, batch)
        raise AssertionError(item)

    # -- generations (generations.py decides when; these are the writer's steps) --
    def next_generation(self) -> Generation:
        """The generation this node would switch to now (computed once per state)."""
        key = (self.doc.state_vector(), self.doc.version, text_digest(self.doc.utf8()))
        if self._next_generation is None or self._next_generation[0] != key:
            self._next_generation = (key, self.doc.next_generation())
        return self._next_generation[1]

    async def past_generation_diff(self, number: int, state_vector: bytes) -> bytes | None:
        """What a replica of an earlier generation lacks of that generation's final
        state (a node that lost its database catching up through the generations):
        rebuilt from this node's log, which keeps every generation's records."""
        generation = await self.store.generation(number) if number else first_generation(self.settings.initial_text)
        if generation is None:  # started in a later one (its database is newer)
            return None
        final = merge_updates(generation.genesis, await self.store.merged_log(number))
        return get_update(final, state_vector)

    async def _generation_step(self, item: GenerationWork) -> None:
        try:
            if isinstance(item, FreezeWork):
                outcome = await self._freeze()
            else:
                outcome = await self._switch(item.digest)
        except STORAGE_ERRORS as error:
            log.warning("a generation step failed; the database is unreachable", error=repr(error))
            outcome = StorageUnavailable("the node's database is unreachable; retry")
        _settle(item.future, outcome)

    async def _freeze(self) -> bool:
        """Durably first: a node that said it is frozen must not take writes after a restart."""
        if not self.frozen:
            await self.store.freeze(self.doc.generation.number)
            self._set_frozen(True)
            log.info("frozen: no writes until the next generation", generation=self.doc.generation.number,
                     version=self.doc.version)
        return True

    async def _switch(self, digest: str) -> bool:
        """Start the next generation if it is the agreed one (False: not, or not frozen)."""
        if not self.frozen or (generation := self.next_generation()).digest != digest:
            return False
        old_records = self._since_compaction
        await self.store.start_generation(generation, first_seq=self.last_seq)
        self._previous_outcomes = {
            edit_id: (metadata["origin_version"], metadata["node_id"])
            for edit_id, raw in self.doc.edits.items() for metadata in [json.loads(raw)]
        }
        previous, self.doc = self.doc, ReplicatedDocument(self.settings.initial_text, generation)
        self._next_generation, self._since_compaction = None, 0
        self.generation_digests.append(generation.digest)
        self._publish()
        self._set_frozen(False)
        log.info("switched to a new document generation", generation=generation.number,
                 version=generation.base_version, digest=digest, records_since_compaction=old_records)
        for callback in self.on_switch:  # each is given the previous generation's document
            try:
                callback(previous)
            except Exception:
                log.exception("a switch listener failed; the switch stands", listener=repr(callback))
        previous.close()
        release_freed_memory()
        return True

    def first_outcome(self, edit_id: str) -> EditAccepted | None:
        """What the node answered when `edit_id` was applied (None: it holds no such
        edit in this generation or the one before, see `_switch`)."""
        if (first := self.doc.edit_metadata(edit_id)) is not None:
            return EditAccepted(edit_id=edit_id, version=first["origin_version"], node_id=first["node_id"])
        if (previous := self._previous_outcomes.get(edit_id)) is not None:
            return EditAccepted(edit_id=edit_id, version=previous[0], node_id=previous[1])
        return None

    def _apply_edit(self, request: EditRequest, batch: Batch) -> EditAccepted:
        if (first := self.first_outcome(request.edit_id)) is not None:
            EDITS.labels("duplicate").inc()
            return first
        charge = None
        if self.doc.ledger.view(self.settings.token_budget).exhausted:
            EDITS.labels("budget_exhausted").inc()
            raise BudgetExhausted("the session's token budget is spent")
        if request.tokens:
            charge, charged = budget.spend(self.doc.ledger, self.writer, f"edit:{request.edit_id}",
                                           request.agent_id, request.tokens)
            if isinstance(charged, budget.Short):
                EDITS.labels("budget_exhausted").inc()
                raise BudgetExhausted("the budget cannot cover this edit's tokens")
        if len(request.op.text) > self.settings.max_edit_chars:
            EDITS.labels("edit_too_large").inc()
            raise EditTooLarge(f"op.text is over {self.settings.max_edit_chars} characters")
        grows_by = len(request.op.text) - (len(request.op.anchor) if request.op.type in ("replace", "delete") else 0)
        if self.doc.chars() + grows_by > self.settings.max_document_chars:
            EDITS.labels("document_too_large").inc()
            raise DocumentTooLarge(f"the document may not exceed {self.settings.max_document_chars} characters")
        try:
            change = self.doc.apply_edit(request, self.node_id, charge)
        except AnchorError as error:
            EDITS.labels(error.code).inc()
            raise
        self._stage(change, "edit", request.edit_id, self.node_id, batch)
        EDITS.labels("applied").inc()
        return EditAccepted(edit_id=request.edit_id, version=self.doc.version, node_id=self.node_id)

    def _apply_budget(self, decide, batch: Batch) -> Written:
        entry, answer = decide(self.doc.ledger)
        if entry is None:
            return Written(answer)
        change = self.doc.write_ledger(entry)
        self._stage(change, "spend", entry.key, self.node_id, batch)
        return Written(answer, entry, change.update, self.doc.generation.number)

    def _apply_remote(self, work: RemoteWork, batch: Batch) -> int:
        applied, bulk, last_seq = 0, len(work.records) >= BULK_RECORDS, work.last_seq
        for index, record in enumerate(work.records):
            if record.generation > self.doc.generation.number:  # the peer switched first: wait to switch too
                last_seq = work.records[index - 1].seq if index else work.after_seq
                break
            if self._known(record):
                continue
            try:
                change = self.doc.apply_update(
                    decode(record.update), record.record_id if record.kind == "edit" else None,
                    # a person's text record has no version of its own to fill a delta in later
                    delta=not bulk or record.kind == "text",
                )
            except ValueError as error:  # what came before it in this work is applied and kept
                raise InvalidUpdate(f"record {record.record_id}: {error}") from None
            self._stage(change, record.kind, record.record_id, record.origin, batch)
            applied += 1
        epoch, seq = batch.cursors.get(work.peer) or self.cursors.get(work.peer) or (work.epoch, 0)
        if epoch != work.epoch:  # the peer's database was recreated: its old positions mean nothing
            seq = 0
        if work.after_seq is not None and last_seq is not None and work.after_seq <= seq:
            batch.cursors[work.peer] = (work.epoch, max(seq, last_seq))
        return applied

    def _known(self, record: LogRecord) -> bool:
        if record.generation < self.doc.generation.number:  # in the genesis of ours
            return True
        match record.kind:
            case "edit":
                return self.doc.has_edit(record.record_id)
            case "spend":  # a budget ledger entry
                return self.doc.has_ledger_entry(record.record_id)
        return False  # a sync diff or a person's text: applying it again is harmless, the CRDT deduplicates

    def _stage(self, change: Change, kind: str, record_id: str, origin: str, batch: Batch) -> None:
        """Add one integrated record to the batch: its log row and a version row per
        new edit (the text delta goes with the last; None when not computed)."""
        batch.log.append(LogRow(kind, record_id, origin, change.update))
        if not change.new_edits and change.delta:  # a person typing on in the latest version
            batch.text_deltas.append((self.doc.version, change.delta))
        first_version = self.doc.version - len(change.new_edits) + 1
        for offset, (edit_id, metadata) in enumerate(change.new_edits):
            last = offset == len(change.new_edits) - 1
            delta = change.delta if last or change.delta is None else []
            client, clock = change.clocks.get(edit_id, (None, None))
            batch.versions.append(VersionRow(first_version + offset, edit_id, metadata, delta, client, clock))
            self._history_versions += 1
        # what replaying this record costs: its delta, or its update when the delta is not known yet
        self._history_chars += len(change.update) if change.delta is None else history.delta_size(change.delta)
        if change.new_edits and history.snapshot_due(
            self._history_chars, self._history_versions, len(self.committed.utf8)
        ):
            batch.text_snapshot = (self.doc.version, self.doc.current_text())
            self._history_chars = self._history_versions = 0

    # -- history --
    async def text_at(self, version: int) -> str | None:
        committed = self.committed
        if version == committed.version:
            return committed.text
        if version < 0 or version > committed.version:
            return None
        found = await self.store.history_for(version)
        if found is not None and None in found[2]:  # applied in bulk; the builder is filling it in
            try:
                await asyncio.wait_for(self.history.complete.wait(), HISTORY_WAIT_SECONDS)
            except TimeoutError:
                pass
            found = await self.store.history_for(version)
        if found is None:
            return None
        _, text, deltas = found
        if None in deltas:
            raise HistoryCatchingUp("this version's text is still being rebuilt after a catch-up; retry")
        return await asyncio.to_thread(history.replay, text, deltas)


def is_persons(record: LogRecord) -> bool:
    """A record of a person typing: the version they started, or their changes in it."""
    return record.kind == "text" or (record.kind == "edit" and record.record_id.startswith(PERSON_EDIT_PREFIX))


def joined_span(name: str, contexts: list[otel_context.Context]):
    """A span for work done for several requests at once (a group commit, a push):
    a child of the first request's span, linked to the others'."""
    links = {
        (span_context.trace_id, span_context.span_id): trace.Link(span_context)
        for span_context in (trace.get_current_span(c).get_span_context() for c in contexts[1:])
        if span_context.is_valid
    }
    return tracer.start_as_current_span(
        name, context=contexts[0] if contexts else None,
        links=list(links.values()), attributes={"coedit.requests": len(contexts)},
    )


def _settle(future: asyncio.Future, outcome) -> None:
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
