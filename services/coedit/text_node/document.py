"""The session's document as one pycrdt (Yrs) document holding three things that
replicate and converge together: the text, the edit log (edit id -> metadata) and
the budget ledger (entry key -> a writer's escrow state; see budget.py).

Every change is one CRDT transaction whose update bytes are the unit of storage
and replication (a *record*). Merging, ordering and deduplication are the CRDT's
work; this class only resolves anchors, applies changes and reports what each
change integrated (new edits, the text delta)."""

import bisect
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pycrdt import Decoder, Doc, Map, Text

from coedit.common.anchors import Splice, resolve
from coedit.text_node.budget import Entry, Ledger
from coedit.text_node.models import EditRequest

# The document's roots: the text, the edit log and the budget ledger. Nothing else
# belongs in it (people.py refuses a person's update that writes anywhere but TEXT).
TEXT, EDITS, LEDGER = "text", "edits", "ledger"
ROOTS = frozenset({TEXT, EDITS, LEDGER})

# All nodes write the initial text with this fixed client id, so the genesis
# update is byte-identical everywhere and merges into one copy, not three. Each later
# generation (a document restarted from the text at one agreed state, see
# generations.py) writes its genesis with the next id, so a Yjs client still holding
# an older generation is told by the genesis ids in its state vector.
GENESIS_CLIENT_ID = 1


def genesis_client_id(generation: int) -> int:
    return GENESIS_CLIENT_ID + generation


def decode_state_vector(state_vector: bytes) -> dict[int, int]:
    """client id -> next expected clock, from Yrs' state vector encoding."""
    decoder = Decoder(state_vector)
    pairs = decoder.read_var_uint()
    return {decoder.read_var_uint(): decoder.read_var_uint() for _ in range(pairs)}  # key read first


def record_clock(update: bytes) -> tuple[int, int] | None:
    """(client, first clock + 1) of a single-client update: a replica whose state
    vector reaches that clock has integrated the record. Read from the header of
    Yjs' update encoding (clients, then structs count, client id, first clock)."""
    decoder = Decoder(update)
    if decoder.read_var_uint() != 1:
        return None
    decoder.read_var_uint()
    client = decoder.read_var_uint()
    return client, decoder.read_var_uint() + 1


def genesis_id(initial_text: str) -> str:
    """Nodes replicate only with peers whose document started from the same text."""
    return hashlib.sha256(initial_text.encode()).hexdigest()[:16]


@dataclass
class Change:
    """What one record integrated into the document."""

    update: bytes
    new_edits: list[tuple[str, str]] = field(default_factory=list)  # edit id, metadata as JSON
    clocks: dict[str, tuple[int, int]] = field(default_factory=dict)  # edit id -> (client, end clock)
    # the text delta (Yjs format, UTF-8 byte offsets); None when it was not computed
    # (a bulk apply: the history builder computes it later)
    delta: list[dict] | None = field(default_factory=list)


def apply_delta(utf8: bytes, delta: list[dict]) -> bytes:
    """The text after a Yjs text delta, on UTF-8 bytes (offsets are bytes)."""
    pieces, position = [], 0
    for step in delta:
        if "retain" in step:
            pieces.append(utf8[position : position + step["retain"]])
            position += step["retain"]
        elif "insert" in step:
            pieces.append(step["insert"].encode())
        elif "delete" in step:
            position += step["delete"]
    pieces.append(utf8[position:])
    return b"".join(pieces)


def splice_delta(start: int, end: int, insert: bytes) -> list[dict]:
    delta = [{"retain": start}] if start else []
    if end > start:
        delta.append({"delete": end - start})
    if insert:
        delta.append({"insert": insert.decode()})
    return delta


@dataclass(frozen=True)
class Generation:
    """A document restarted from the text at one state all nodes agreed on (see
    generations.py): its number, the edits all earlier generations held, and its
    first update, byte-identical on every node."""

    number: int
    base_version: int
    genesis: bytes
    # what the nodes agree on: the genesis and the state it was computed from
    digest: str


def first_generation(initial_text: str) -> Generation:
    genesis = Doc(client_id=genesis_client_id(0))
    genesis.get(TEXT, type=Text).insert(0, initial_text)
    update = genesis.get_update()
    return Generation(0, 0, update, hashlib.sha256(update).hexdigest()[:32])


class ReplicatedDocument:
    def __init__(self, initial_text: str, generation: Generation | None = None):
        self.doc = Doc()
        self.text = self.doc.get(TEXT, type=Text)
        self.edits = self.doc.get(EDITS, type=Map)
        self.ledger_entries = self.doc.get(LEDGER, type=Map)
        self.ledger = Ledger()
        self.genesis = genesis_id(initial_text)
        self.generation = generation or first_generation(initial_text)
        # edits integrated, those of earlier generations included (counted here: a Yrs
        # map's length walks the map)
        self.version = self.generation.base_version
        # The text as UTF-8 and its length in characters, kept in step with Yrs while
        # they are held (None: rebuilt from Yrs when next needed, which costs time in
        # proportion to the document).
        self._utf8: bytes | None = None
        self._chars = 0
        self._want_delta = False
        self._edit_clocks: dict[int, list[int]] = {}
        self._pending_clocks: dict[str, tuple[int, int]] = {}
        self._change: Change | None = None
        # The raw Yrs event: pycrdt's wrapped event computes the text delta eagerly,
        # and a delta walks the whole text; this one computes it only when asked.
        self._text_subscription = self.text.integrated.observe(self._on_text)
        self._subscriptions = [
            (self.edits, self.edits.observe(self._on_edits)),
            (self.ledger_entries, self.ledger_entries.observe(self._on_ledger)),
            (self.doc, self.doc.observe(self._on_transaction)),
        ]
        self.doc.apply_update(self.generation.genesis)

    def close(self) -> None:
        """Drop the observers. Yrs holds them, and they hold this object: a document
        not closed is never freed (measured: 2.2 MiB per 3,000 edits, for good)."""
        if self._subscriptions:
            self._text_subscription.drop()
        for shared, subscription in self._subscriptions:
            shared.unobserve(subscription)
        self._subscriptions = []

    def next_generation(self) -> Generation:
        """The next generation's first update, from this document's text and its
        compacted budget ledger, with an empty edit log: the same bytes on every
        node that holds the same document (a fixed client id, the same changes in
        the same order)."""
        number = self.generation.number + 1
        genesis = Doc(client_id=genesis_client_id(number))
        text, ledger = genesis.get(TEXT, type=Text), genesis.get(LEDGER, type=Map)
        with genesis.transaction():
            text.insert(0, self.current_text())
            for entry in self.ledger.compacted():
                ledger[entry.key] = entry.to_json()
        update = genesis.get_update()
        state = sorted(decode_state_vector(self.state_vector()).items())
        digest = hashlib.sha256(json.dumps([number, self.version, state]).encode() + update).hexdigest()[:32]
        return Generation(number, self.version, update, digest)

    # -- observers collect what the current transaction integrated --
    def _on_text(self, event) -> None:
        if not self._want_delta:
            self._utf8 = None
            return
        delta = event.delta
        self._change.delta.extend(delta)
        if self._utf8 is not None:
            self._chars += sum(len(step.get("insert", "")) for step in delta) - _deleted_chars(self._utf8, delta)
            self._utf8 = apply_delta(self._utf8, delta)

    def _on_edits(self, event) -> None:
        for edit_id, change in event.keys.items():
            if change["action"] == "add":
                self.version += 1
                if self._change is not None:
                    self._change.new_edits.append((edit_id, change["newValue"]))

    def _on_ledger(self, event) -> None:
        for change in event.keys.values():
            if change["action"] == "add":
                self.ledger.integrate(change["newValue"])

    def _on_transaction(self, event) -> None:
        if self._change is not None and not self._change.update:
            self._change.update = event.update

    # -- reads --
    def utf8(self) -> bytes:
        """The current text as UTF-8 bytes (Yrs' own offsets)."""
        if self._utf8 is None:
            text = str(self.text)
            self._utf8, self._chars = text.encode(), len(text)
        return self._utf8

    def current_text(self) -> str:
        return self.utf8().decode()

    def chars(self) -> int:
        self.utf8()
        return self._chars

    def edit_metadata(self, edit_id: str) -> dict | None:
        raw = self.edits.get(edit_id)
        return None if raw is None else json.loads(raw)

    def has_edit(self, edit_id: str) -> bool:
        return edit_id in self.edits

    def has_ledger_entry(self, key: str) -> bool:
        return self.ledger.has(key)

    def state_vector(self) -> bytes:
        return self.doc.get_state()

    def lacks_anything_from(self, state_vector: bytes) -> bool:
        """True when a replica with `state_vector` has integrated changes we have not."""
        ours = decode_state_vector(self.state_vector())
        return any(clock > ours.get(client, 0) for client, clock in decode_state_vector(state_vector).items())

    def edits_missing_from(self, state_vector: bytes) -> int:
        """How many of our edits a replica with `state_vector` has not integrated
        (counted from each edit record's own clock; an edit only ever received
        inside a merged repair diff is not counted)."""
        theirs = decode_state_vector(state_vector)
        return sum(
            len(clocks) - bisect.bisect_right(clocks, theirs.get(client, 0))
            for client, clocks in self._edit_clocks.items()
        )

    # -- writes --
    def apply_edit(self, request: EditRequest, node_id: str, charge: Entry | None = None) -> Change:
        """Resolve the anchor on the current text and apply the edit (and the ledger
        entry charging its tokens) as one transaction. Raises AnchorError, changing nothing."""
        _check(charge)
        utf8 = self.utf8()
        splice = resolve(utf8, request.op)
        metadata = {
            "agent_id": request.agent_id,
            "op": request.op.model_dump(exclude_none=True),
            "intent_id": request.intent_id,
            "summary": request.summary,
            "node_id": node_id,
            "origin_version": self.version + 1,
            "created_at": datetime.now(UTC).isoformat(),
        }
        chars = self._chars + len(splice.insert.decode()) - len(utf8[splice.start : splice.end].decode())
        change = self._record(lambda: self._splice_and_log(splice, request, metadata, charge), want_delta=False)
        # what Yrs now holds, without converting it back
        self._utf8, self._chars = splice.apply(utf8), chars
        change.delta = splice_delta(splice.start, splice.end, splice.insert)
        return change

    def _splice_and_log(self, splice: Splice, request: EditRequest, metadata, charge: Entry | None) -> None:
        if splice.end > splice.start:
            del self.text[splice.start : splice.end]
        if splice.insert:
            self.text.insert(splice.start, splice.insert.decode())
        self.edits[request.edit_id] = json.dumps(metadata, ensure_ascii=False)
        if charge is not None:
            self.ledger_entries[charge.key] = charge.to_json()

    def write_ledger(self, entry: Entry) -> Change:
        """Add one budget ledger entry (its own record)."""
        _check(entry)

        def write():
            self.ledger_entries[entry.key] = entry.to_json()

        return self._record(write, want_delta=True)

    def apply_update(self, update: bytes, edit_id: str | None = None, *, delta: bool = True) -> Change:
        """Integrate a record from a peer (or from our own log at start-up). With
        `delta=False` the text delta is not computed (cheaper by a walk over the
        text: for applying many records at once) and `Change.delta` is None. For an
        edit record, remember its clock: it may integrate later, inside another
        record, once Yrs has what it depends on."""
        if edit_id is not None and (clock := record_clock(update)):
            self._pending_clocks[edit_id] = clock
        change = self._record(lambda: self.doc.apply_update(update), update=update, want_delta=delta)
        if not delta:
            change.delta = None
        return change

    def apply_person_update(self, update: bytes, edit_id: str | None, metadata: dict | None) -> Change:
        """Integrate a person's Yjs update (checked beforehand to change only the text).
        With `edit_id` it starts a new version: logged in the same transaction."""

        def write():
            self.doc.apply_update(update)
            if edit_id is not None:
                self.edits[edit_id] = json.dumps(metadata, ensure_ascii=False)

        if edit_id is not None:
            self._expect_own_entry(edit_id)
        return self._record(write, want_delta=True)

    def replace_text(self, text: str, edit_id: str | None, metadata: dict | None) -> Change:
        """Make the text `text` (one splice: what lies between the common prefix and
        suffix) in one transaction; with `edit_id` it is logged as a new version."""
        current = self.current_text()
        prefix = len(os.path.commonprefix([current, text]))
        suffix = len(os.path.commonprefix([current[prefix:][::-1], text[prefix:][::-1]]))
        start = len(current[:prefix].encode())
        splice = Splice(start, len(self.utf8()) - len(current[len(current) - suffix:].encode()),
                        text[prefix : len(text) - suffix].encode())

        def write():
            if splice.end > splice.start:
                del self.text[splice.start : splice.end]
            if splice.insert:
                self.text.insert(splice.start, splice.insert.decode())
            if edit_id is not None:
                self.edits[edit_id] = json.dumps(metadata, ensure_ascii=False)

        if edit_id is not None:
            self._expect_own_entry(edit_id)
        change = self._record(write, want_delta=False)
        self._utf8, self._chars = text.encode(), len(text)
        change.delta = splice_delta(splice.start, splice.end, splice.insert)
        return change

    def _expect_own_entry(self, edit_id: str) -> None:
        """The clock an entry this replica is about to write gets: its update holds
        other clients' changes too, so it cannot be read off the update's header."""
        own = self.doc.client_id
        self._pending_clocks[edit_id] = (own, decode_state_vector(self.doc.get_state()).get(own, 0) + 1)

    def _record(self, mutate, *, update: bytes = b"", want_delta: bool) -> Change:
        self._change, self._want_delta = Change(update=update), want_delta
        try:
            with self.doc.transaction():
                mutate()
            change = self._change
        finally:
            self._change, self._want_delta = None, False
        for edit_id, _ in change.new_edits:
            clock = self._pending_clocks.pop(edit_id, None)
            if clock is None and len(change.new_edits) == 1:
                clock = record_clock(change.update)
            if clock is not None:
                change.clocks[edit_id] = clock
                self.restore_clock(*clock)
        return change

    def restore_clock(self, client: int, clock: int) -> None:
        """Remember where an edit sits in its origin's clock."""
        bisect.insort(self._edit_clocks.setdefault(client, []), clock)

    def reset_clocks(self, clocks: list[tuple[int, int]]) -> None:
        """At start-up: the clocks recorded with each version (a compacted snapshot
        integrates many edits at once, so they cannot be read off the records)."""
        self._edit_clocks = {}
        for client, clock in clocks:
            self.restore_clock(client, clock)


def _deleted_chars(utf8: bytes, delta: list[dict]) -> int:
    """How many characters a delta deletes from `utf8`."""
    deleted, position = 0, 0
    for step in delta:
        if "retain" in step:
            position += step["retain"]
        elif "delete" in step:
            deleted += len(utf8[position : position + step["delete"]].decode())
            position += step["delete"]
    return deleted


def _check(entry: Entry | None) -> None:
    if entry is not None and entry.free < 0:  # budget.py never makes one; a bug must not break the limit
        raise ValueError(f"ledger entry {entry.key} would use rights its writer does not hold")
