"""The session's document as one pycrdt (Yrs) document holding three things that
replicate and converge together: the text, the edit log (edit id -> metadata) and
the token-spend ledger (spend id -> tokens).

Every change is one CRDT transaction whose update bytes are the unit of storage
and replication (a *record*). Merging, ordering and deduplication are the CRDT's
work; this class only resolves anchors, applies changes and reports what each
change integrated (new edits, the text delta, tokens spent)."""

import bisect
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pycrdt import Decoder, Doc, Map, Text

from coedit.text_node.anchors import resolve
from coedit.text_node.models import EditRequest

# All nodes write the initial text with this fixed client id, so the genesis
# update is byte-identical everywhere and merges into one copy, not three.
GENESIS_CLIENT_ID = 1


def decode_state_vector(state_vector: bytes) -> dict[int, int]:
    """client id -> next expected clock, from Yrs' state vector encoding."""
    decoder = Decoder(state_vector)
    pairs = decoder.read_var_uint()
    return dict((decoder.read_var_uint(), decoder.read_var_uint()) for _ in range(pairs))


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
    new_edits: list[tuple[str, dict]] = field(default_factory=list)
    clocks: dict[str, tuple[int, int]] = field(default_factory=dict)  # edit id -> (client, end clock)
    delta: list[dict] = field(default_factory=list)
    tokens: int = 0


class ReplicatedDocument:
    def __init__(self, initial_text: str):
        self.doc = Doc()
        self.text = self.doc.get("text", type=Text)
        self.edits = self.doc.get("edits", type=Map)
        self.spends = self.doc.get("spends", type=Map)
        self.genesis = genesis_id(initial_text)
        self.spent = 0
        self._text: str | None = None
        self._edit_clocks: dict[int, list[int]] = {}
        self._pending_clocks: dict[str, tuple[int, int]] = {}
        self._change: Change | None = None
        self.text.observe(self._on_text)
        self.edits.observe(self._on_edits)
        self.spends.observe(self._on_spends)
        self.doc.observe(self._on_transaction)
        genesis = Doc(client_id=GENESIS_CLIENT_ID)
        genesis.get("text", type=Text).insert(0, initial_text)
        self.doc.apply_update(genesis.get_update())

    # -- observers collect what the current transaction integrated --
    def _on_text(self, event) -> None:
        self._text = None
        if self._change is not None:
            self._change.delta.extend(event.delta)

    def _on_edits(self, event) -> None:
        for edit_id, change in event.keys.items():
            if change["action"] == "add" and self._change is not None:
                self._change.new_edits.append((edit_id, json.loads(change["newValue"])))

    def _on_spends(self, event) -> None:
        for change in event.keys.values():
            if change["action"] == "add":
                tokens = json.loads(change["newValue"])["tokens"]
                self.spent += tokens
                if self._change is not None:
                    self._change.tokens += tokens

    def _on_transaction(self, event) -> None:
        if self._change is not None and not self._change.update:
            self._change.update = event.update

    # -- reads --
    @property
    def version(self) -> int:
        return len(self.edits)

    def current_text(self) -> str:
        """The text as a Python string, kept between changes: converting it from Yrs
        costs time in proportion to the document, and every edit needs it."""
        if self._text is None:
            self._text = str(self.text)
        return self._text

    def edit_metadata(self, edit_id: str) -> dict | None:
        raw = self.edits.get(edit_id)
        return None if raw is None else json.loads(raw)

    def has_spend(self, spend_id: str) -> bool:
        return spend_id in self.spends

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
    def apply_edit(self, request: EditRequest, node_id: str) -> Change:
        """Resolve the anchor on the current text and apply the edit (and its token
        spend) as one transaction. Raises AnchorError, changing nothing."""
        text = self.current_text()
        splice = resolve(text, request.op)
        start = len(text[: splice.start].encode())
        end = start + len(text[splice.start : splice.end].encode())
        metadata = {
            "agent_id": request.agent_id,
            "op": request.op.model_dump(exclude_none=True),
            "intent_id": request.intent_id,
            "summary": request.summary,
            "node_id": node_id,
            "origin_version": self.version + 1,
            "created_at": datetime.now(UTC).isoformat(),
        }
        change = self._record(lambda: self._splice_and_log(start, end, splice.insert, request, metadata))
        self._text = splice.apply(text)  # what Yrs now holds, without converting it back
        return change

    def _splice_and_log(self, start, end, insert, request: EditRequest, metadata) -> None:
        if end > start:
            del self.text[start:end]
        if insert:
            self.text.insert(start, insert)
        self.edits[request.edit_id] = json.dumps(metadata, ensure_ascii=False)
        if request.tokens:
            self.spends[f"edit:{request.edit_id}"] = json.dumps(
                {"agent_id": request.agent_id, "tokens": request.tokens}
            )

    def apply_spend(self, spend_id: str, agent_id: str, tokens: int) -> Change:
        def write():
            self.spends[spend_id] = json.dumps({"agent_id": agent_id, "tokens": tokens})

        return self._record(write)

    def apply_update(self, update: bytes, edit_id: str | None = None) -> Change:
        """Integrate a record from a peer (or from our own log at start-up). For an
        edit record, remember its clock: it may integrate later, inside another
        record, once Yrs has what it depends on."""
        if edit_id is not None and (clock := record_clock(update)):
            self._pending_clocks[edit_id] = clock
        return self._record(lambda: self.doc.apply_update(update), update)

    def _record(self, mutate, update: bytes = b"") -> Change:
        self._change = Change(update=update)
        try:
            with self.doc.transaction():
                mutate()
            change = self._change
        finally:
            self._change = None
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
