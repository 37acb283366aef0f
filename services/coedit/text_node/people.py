"""People on a text node: the Yjs sync protocol in y-websocket's wire format, so
any Yjs editor co-edits the document's text (`ydoc.getText("text")`).

Messages are pycrdt's own (sync step 1 / step 2 / update, awareness); what a
person sends goes through the node's single writer like an agent's edit:
- it is first tried on a `Shadow` copy of the CRDT: an update that would touch
  anything but the text (the edit log, the token ledger, another root), embed
  anything but characters, leave structs pending or grow the text past the
  node's limit is refused, logged and never reaches the document;
- an update that deletes items this node does not have yet (a client that saw them
  on another node: Yrs would keep such a delete set pending, out of the record's
  effect and of the history) is held, with the connection's later updates merged
  into it, until the node has those items (they replicate within a second), then
  applied as one change; held `HOLD_SECONDS` in vain, the connection is closed
  (1013) and y-websocket's resync sends what the node lacks;
- it is committed before anyone sees it: what this node's own clients write
  (agents', people's) goes out after the group commit it is in; a peer's record,
  committed on that peer before it was pushed, goes out as it comes (a keystroke
  on another node waits for that node's commit, not for this one's too);
- consecutive changes by one person on this node, within `GROUP_SECONDS` of each
  other and with no other version in between, make one version (`kind: human`,
  the person's name as `agent_id`): its first change is an `edit` record that logs
  the version, the rest are `text` records. A person's changes spend no tokens.

Awareness (cursors, names) is relayed between the connections of one node, not
replicated between nodes.

When the nodes restart the document in a new generation (generations.py), a Yjs
client's document is the old one: its items mean nothing in the new. Every
connection is closed with `RESTARTED` (the web's editor then starts over with a new
Y.Doc), and a client that comes back with the old document (its state vector names
an earlier generation's genesis client) is closed the same way, nothing of it applied.
What a person typed on the old document and the node had not applied yet (queued
behind the freeze, or sent before the close reached the client) is *carried*: tried
on a copy of the old document's final state and, while the new document's text is
still that state's text, made in it as the same change of the text, by that person;
once the new document has changed otherwise it is refused (the client starts over)."""

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import ClassVar
from datetime import UTC, datetime

import structlog
from pycrdt import (
    Awareness,
    Doc,
    Map,
    Text,
    YMessageType,
    YSyncMessageType,
    Decoder,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    get_update,
    merge_updates,
    read_message,
)
from prometheus_client import Counter, Gauge

from coedit.text_node.document import ROOTS, TEXT, ReplicatedDocument, decode_state_vector, genesis_client_id
from coedit.text_node.errors import DocumentError, DocumentRestarted, PersonChangeRefused
from coedit.text_node.models import EditAccepted, LogRecord
from coedit.text_node.node import PERSON_EDIT_PREFIX, PersonWork, TextNode
from coedit.text_node.store import Batch, decode

log = structlog.get_logger(__name__)

CHANGES = Counter("coedit_people_changes_total", "People's updates by outcome", ["outcome"])
CONNECTIONS = Gauge("coedit_people_connections", "Yjs connections open on this node")

ROOM = "document"
GROUP_SECONDS = 2.0  # a person's changes this close together make one version
OUTBOX_LIMIT = 1000  # messages waiting for a slow connection; beyond it the connection is closed
EMPTY_UPDATE = b"\x00\x00"
HOLD_SECONDS = 10.0  # how long a connection's changes may wait for items the node lacks
HOLD_LIMIT = 1000  # updates merged into one held change; beyond it the connection is refused
RESTARTED = 4409  # the close code for a client holding an earlier generation of the document
RESTARTED_REASON = "the document restarted (a new generation); start over with a new document"
CARRY_SECONDS = 5.0  # how long after a switch a change made on the old document may still be carried


class Refused(Exception):
    """A person's update that would change more than the text."""


class Stale(Exception):
    """A person's update carrying an earlier generation's genesis client: made on the old document."""


class Pending(Exception):
    """A person's update that deletes items this node does not have yet."""

    def __init__(self, needs: dict[int, int]):
        super().__init__(f"it deletes items this node does not have yet: {needs}")
        self.needs = needs  # client -> the clock this node's state vector must reach


def deleted_ranges_end(update: bytes, state: bytes) -> dict[int, int] | None:
    """client -> the end of the last clock range `update` deletes; None when it holds
    structs that `state` (a state vector) lacks. A diff of the update against a state
    that has all its structs keeps its delete set alone (pycrdt drops the structs); that
    is read as Yjs encodes it: no structs, then per client its id and (clock, length) ranges."""
    decoder = Decoder(get_update(update, state))
    if decoder.read_var_uint():  # clients with structs left
        return None
    ends: dict[int, int] = {}
    for _ in range(decoder.read_var_uint()):
        client = decoder.read_var_uint()
        for _ in range(decoder.read_var_uint()):
            clock = decoder.read_var_uint()
            ends[client] = max(ends.get(client, 0), clock + decoder.read_var_uint())
    return ends


def relayed(record: LogRecord, node_id: str) -> bool:
    """A peer's own record, committed on that peer before it sent it (a push or a
    pulled page): the connections get it when it comes. A repair diff (`sync`) may
    hold changes its sender had not committed yet, so it waits for this node's commit."""
    return record.origin != node_id and record.kind != "sync"


def _mergeable(update: bytes) -> bool:
    try:
        merge_updates(update)
    except ValueError:
        return False
    return True


def reaches(state: dict[int, int], needs: dict[int, int]) -> bool:
    return all(state.get(client, 0) >= clock for client, clock in needs.items())


def earlier_genesis(generation: int) -> set[int]:
    """The genesis client ids of the generations before `generation`: a Yjs document
    holding one of them is an old generation's."""
    return {genesis_client_id(number) for number in range(generation)}


async def close(websocket, code: int, reason: str) -> None:
    """Close the websocket unless it is closed already: a restart, a refusal and a
    slow connection's pump may each come to close it."""
    with contextlib.suppress(RuntimeError, OSError):  # Starlette: sent a close already; uvicorn: gone
        await websocket.close(code=code, reason=reason[:120])


class Shadow:
    """A copy of the node's CRDT kept in step with it (every transaction on the
    node's document is applied here too), on which a person's update is tried
    before the document gets it. An update it refuses leaves the copy spoiled:
    the caller drops it and makes a new one."""

    def __init__(self, source: ReplicatedDocument):
        self.source = source
        self.doc = Doc()
        self.text = self.doc.get(TEXT, type=Text)
        self._touched: list[str] = []
        self._deltas: list[list[dict]] = []
        self._trying = False
        self._subscriptions = [
            *(self.doc.get(root, type=Map).observe(self._toucher(root)) for root in sorted(ROOTS - {TEXT})),
            # the raw event: its delta (a walk over the text) is computed only when asked
            self.text.integrated.observe(self._on_text),
        ]
        self.doc.apply_update(source.doc.get_update())
        self._follow = source.doc.observe(lambda event: self.doc.apply_update(event.update))

    def _toucher(self, root: str):
        return lambda *_: self._touched.append(root)

    def _on_text(self, event) -> None:
        if self._trying:
            self._deltas.append(event.delta)

    def unfollow(self) -> None:
        """Stop following the source: the copy keeps the source's state from now on."""
        if self._follow is not None:
            self.source.doc.unobserve(self._follow)
            self._follow = None

    def close(self) -> None:
        """Drop every observer: Yrs holds them and they hold the copy, which is otherwise never freed."""
        self.unfollow()
        for subscription in self._subscriptions:
            subscription.drop()
        self._subscriptions = []

    def attempt(self, update: bytes, max_bytes: int) -> list[dict]:
        """Apply `update` here; return the text delta it makes, or raise Refused, Stale or
        Pending (each spoils the copy: Yrs keeps a pending delete set in it). Stale comes
        first: an old document's update writes to the other roots too (its client was sent
        the whole document), and its client is to start over, not to be told it may not."""
        self._touched, self._deltas, self._trying = [], [], True
        try:
            self.doc.apply_update(update)
        except Exception as error:
            raise Refused(f"not a Yjs update: {error}") from None
        finally:
            self._trying = False
        state = self.doc.get_state()
        ours, deleted = decode_state_vector(state), deleted_ranges_end(update, state)
        if earlier_genesis(self.source.generation.number) & (ours.keys() | (deleted or {}).keys()):
            raise Stale()
        if self._touched:
            raise Refused(f"it writes to {', '.join(sorted(set(self._touched)))}; only the text is a person's to change")
        if others := set(self.doc.keys()) - ROOTS:
            raise Refused(f"it writes to {', '.join(sorted(others))}; only the text is a person's to change")
        if deleted is None:
            raise Refused("it depends on changes this node does not have (structs left pending)")
        delta = [step for delta in self._deltas for step in delta]
        if any("insert" in step and not isinstance(step["insert"], str) for step in delta):
            raise Refused("it embeds something other than characters in the text")
        if len(self.text) > max_bytes:
            raise Refused(f"the text would exceed {max_bytes} bytes")
        if needs := {client: end for client, end in deleted.items() if end > ours.get(client, 0)}:
            raise Pending(needs)
        return delta


@dataclass
class Group:
    """A person's open version on this node."""

    edit_id: str
    version: int
    last_change: float


@dataclass(eq=False)  # one per websocket, kept in a set
class Connection:
    websocket: object
    name: str
    outbox: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(OUTBOX_LIMIT))
    awareness_clients: set[int] = field(default_factory=set)
    overflowed: bool = False
    held: list[bytes] = field(default_factory=list)  # its updates waiting for items the node lacks
    needs: dict[int, int] = field(default_factory=dict)  # the state vector they wait for
    known: asyncio.Event = field(default_factory=asyncio.Event)  # the node reached `needs`
    releaser: asyncio.Task | None = None  # waits for `known`, then applies what is held
    inbox: list[bytes] = field(default_factory=list)  # its updates not yet given to the writer
    received: asyncio.Event = field(default_factory=asyncio.Event)  # the inbox has some
    generation: int = 0  # the document generation it synced with

    def send(self, message: bytes) -> None:
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True  # it resyncs when it reconnects

    async def pump(self) -> None:
        while not self.overflowed:
            await self.websocket.send_bytes(await self.outbox.get())
        await close(self.websocket, 1013, "too far behind; reconnect")


@dataclass
class PersonChange(PersonWork):
    room: "Room"
    connection: Connection
    update: bytes | None  # None: the connection's held updates, now that the node has what they delete

    def apply(self, node: TextNode, batch: Batch):
        return self.room.integrate(node, self.connection, self.update, batch)


@dataclass
class SyncReply(PersonWork):
    """The sync step 2 answering a client's step 1, made by the writer so that it
    holds only what is committed when the client gets it (it is sent after the
    commit of the batch it was made in)."""

    message: bytes  # the sync message (after the SYNC byte)
    generation: int  # the connection's: a switch since, and the client gets nothing of the new document
    writes: ClassVar[bool] = False  # it reads: no need to wait while the node is frozen

    def apply(self, node: TextNode, batch: Batch) -> bytes:
        if self.generation != node.doc.generation.number:
            raise DocumentRestarted(RESTARTED_REASON)
        return handle_sync_message(self.message, node.doc.doc)


@dataclass
class Restore(PersonWork):
    """A new version, attributed to `name`, whose text is `text` (a past version's)."""

    edit_id: str
    name: str
    version: int
    text: str

    def apply(self, node: TextNode, batch: Batch) -> EditAccepted:
        if (first := node.first_outcome(self.edit_id)) is not None:
            return first
        metadata = version_metadata(node, self.name, f"restored version {self.version}")
        change = node.doc.replace_text(self.text, self.edit_id, metadata)
        node._stage(change, "edit", self.edit_id, node.node_id, batch)
        CHANGES.labels("restored").inc()
        return EditAccepted(edit_id=self.edit_id, version=node.doc.version, node_id=node.node_id)


def version_metadata(node: TextNode, name: str, summary: str | None = None) -> dict:
    return {
        "kind": "human", "agent_id": name, "summary": summary, "node_id": node.node_id,
        "origin_version": node.doc.version + 1, "created_at": datetime.now(UTC).isoformat(),
    }


class Room:
    """The document's room on this node: its connections, their awareness, each
    person's open version, and the shadow copy their updates are tried on."""

    def __init__(self, node: TextNode):
        self.node = node
        self.connections: set[Connection] = set()
        self.awareness = Awareness(Doc())
        self.awareness.set_local_state(None)  # the node itself has no cursor
        self.awareness.observe(self._on_awareness)
        self.groups: dict[str, Group] = {}
        self.shadow: Shadow | None = None
        self.carry: Shadow | None = None  # the previous generation's final state, for CARRY_SECONDS (_carry)
        self._closing: set[asyncio.Task] = set()  # the restart's closes under way
        node.on_commit.append(self._broadcast)
        node.on_remote.append(self._relay)
        node.on_switch.append(self._restart)

    # -- the writer's side --
    def integrate(self, node: TextNode, connection: Connection, update: bytes | None, batch: Batch) -> int:
        """Check and apply one person's update (merged after the connection's held ones,
        which it may complete); stage its record, or hold it. Returns the version."""
        name, held = connection.name, connection.held
        if connection.generation != node.doc.generation.number:  # made on the previous generation's document
            return self._carry(node, connection, update, batch)
        if update is None and not held:
            return node.doc.version  # released already, with a later update
        update = merge_updates(*held, *([update] if update is not None else []))
        connection.held, connection.needs = [], {}
        connection.known.clear()
        try:
            delta = self._shadow().attempt(update, node.settings.max_document_chars)
        except Pending as pending:
            self._drop_shadow()
            return self._hold(connection, update, pending.needs, len(held) + 1)
        except Stale:
            self._drop_shadow()
            CHANGES.labels("stale").inc()
            log.warning("a person's update of an earlier document generation refused", person=name)
            raise DocumentRestarted(RESTARTED_REASON) from None
        except Refused as refusal:
            self._drop_shadow()
            CHANGES.labels("refused").inc()
            log.warning("a person's update refused", person=name, reason=str(refusal))
            raise PersonChangeRefused(str(refusal)) from None
        if not delta:  # nothing the document lacks (a resync, an empty step 2)
            CHANGES.labels("nothing_new").inc()
            return node.doc.version
        return self._stage_change(
            node, name, batch, lambda edit_id, metadata: node.doc.apply_person_update(update, edit_id, metadata),
            "applied")

    def _stage_change(self, node: TextNode, name: str, batch: Batch, make, outcome: str) -> int:
        """Stage `make(edit_id, metadata)`, a person's change: in their open version if
        they changed the text within GROUP_SECONDS with no other version since (no
        edit id then), else as a new version. Returns the version."""
        group, now = self.groups.get(name), time.monotonic()
        if group and now - group.last_change < GROUP_SECONDS and group.version == node.doc.version:
            node._stage(make(None, None), "text", uuid.uuid4().hex, node.node_id, batch)
            group.last_change = now
        else:
            edit_id = f"{PERSON_EDIT_PREFIX}{uuid.uuid4().hex}"
            node._stage(make(edit_id, version_metadata(node, name)), "edit", edit_id, node.node_id, batch)
            self.groups[name] = Group(edit_id, node.doc.version, now)
        CHANGES.labels(outcome).inc()
        return node.doc.version

    def _carry(self, node: TextNode, connection: Connection, update: bytes | None, batch: Batch) -> int:
        """A person's update of the previous generation's document, carried into the new
        one when it can be exactly (see the module's docstring); else DocumentRestarted."""
        carry = self.carry
        if carry is not None and str(carry.text) != node.doc.current_text():
            self._drop_carry()  # the new document has changed otherwise: nothing is carried any more
            carry = None
        if update is None or carry is None or connection.generation != carry.source.generation.number:
            CHANGES.labels("stale").inc()
            raise DocumentRestarted(RESTARTED_REASON)
        try:
            delta = carry.attempt(update, node.settings.max_document_chars)
        except (Pending, Stale, Refused) as error:
            self._drop_carry()
            CHANGES.labels("stale").inc()
            log.info("a person's change to the previous document generation not carried", person=connection.name,
                     reason=str(error) or type(error).__name__)
            raise DocumentRestarted(RESTARTED_REASON) from None
        if not delta:
            CHANGES.labels("nothing_new").inc()
            return node.doc.version
        text = str(carry.text)
        log.info("a person's change to the previous document generation carried into this one",
                 person=connection.name, generation=node.doc.generation.number)
        return self._stage_change(
            node, connection.name, batch, lambda edit_id, metadata: node.doc.replace_text(text, edit_id, metadata),
            "carried")

    def _hold(self, connection: Connection, update: bytes, needs: dict[int, int], count: int) -> int:
        if count > HOLD_LIMIT:
            CHANGES.labels("refused").inc()
            raise PersonChangeRefused(f"{count} updates wait for items this node does not have")
        connection.held, connection.needs = [update], needs
        CHANGES.labels("held").inc()
        if connection.releaser is None or connection.releaser.done():
            log.info("a person's update held", person=connection.name, needs=needs)
            connection.releaser = asyncio.get_running_loop().create_task(
                self._release(connection), name=f"yjs-held-{connection.name}")
        return self.node.doc.version

    async def _release(self, connection: Connection) -> None:
        """Apply the connection's held updates once the node has what they delete; held
        too long (the items' node died unreplicated, or they never existed), close the
        connection: y-websocket reconnects and its resync sends what this node lacks."""
        while connection.held:  # a release may hold again what it merged, still short of some items
            try:
                await asyncio.wait_for(connection.known.wait(), HOLD_SECONDS)
            except TimeoutError:
                log.warning("a person's held update dropped", person=connection.name, needs=connection.needs)
                connection.held = []
                await close(connection.websocket, 1013, "changes wait for items this node lacks; resync")
                return
            try:
                await self.node.submit(PersonChange(self, connection, None))
            except DocumentError as error:
                code = {PersonChangeRefused: 1008, DocumentRestarted: RESTARTED}.get(type(error), 1013)
                await close(connection.websocket, code, error.detail)
                return

    def _restart(self, previous: ReplicatedDocument) -> None:
        """The node switched generation: every connection holds the old document. Each
        is closed (its awareness goes as it disconnects); what it held is dropped. What
        it sent or sends still is carried if it can be (`_carry`), on a copy of
        `previous` kept CARRY_SECONDS: the changes queued behind the freeze may come to
        the writer after the connection has closed."""
        self._drop_carry()
        if self.shadow is not None and self.shadow.source is previous:  # a copy of it already
            self.carry, self.shadow = self.shadow, None
        else:
            self._drop_shadow()
            self.carry = Shadow(previous) if self.connections else None
        if self.carry is not None:
            self.carry.unfollow()
            asyncio.get_running_loop().call_later(CARRY_SECONDS, self._drop_carry, self.carry)
        self.groups.clear()
        for connection in self.connections:
            if connection.releaser is not None:
                connection.releaser.cancel()
            connection.held, connection.needs = [], {}
            closing = asyncio.get_running_loop().create_task(
                close(connection.websocket, RESTARTED, RESTARTED_REASON), name=f"yjs-restart-{connection.name}")
            self._closing.add(closing)  # the loop keeps only a weak reference to a task
            closing.add_done_callback(self._closing.discard)
        log.info("people's connections closed: the document restarted", connections=len(self.connections),
                 generation=self.node.doc.generation.number)

    def _shadow(self) -> Shadow:
        if self.shadow is None or self.shadow.source is not self.node.doc:  # new, or the node reloaded
            self._drop_shadow()
            self.shadow = Shadow(self.node.doc)
        return self.shadow

    def _drop_shadow(self) -> None:
        if self.shadow is not None:
            self.shadow.close()
            self.shadow = None

    def _drop_carry(self, only: Shadow | None = None) -> None:
        if self.carry is not None and (only is None or self.carry is only):
            self.carry.close()
            self.carry = None

    def _relay(self, records: list[LogRecord]) -> None:
        """Peers' records as they come, before this node commits them: each is committed
        on its origin already, so a keystroke waits for one commit, not two (and
        `_broadcast` does not send it again after this node's)."""
        if self.connections and (durable := [decode(r.update) for r in records if relayed(r, self.node.node_id)]):
            try:
                merged = merge_updates(*durable)
            except ValueError:  # one is no Yjs update (the writer refuses it): the others still go
                merged = merge_updates(*(update for update in durable if _mergeable(update)))
            message = create_update_message(merged)
            for connection in self.connections:
                connection.send(message)

    def _broadcast(self, _prev_own_seq: int, records: list[LogRecord], _contexts: list) -> None:
        """After each commit: what it committed that the connections do not have yet (this
        node's own changes, repair diffs), to every connection; held updates whose items
        the node now has are released."""
        if self.connections:
            fresh = [r for r in records if not relayed(r, self.node.node_id)]
            message = create_update_message(merge_updates(*(decode(r.update) for r in fresh))) if fresh else None
            state = None
            for connection in self.connections:
                if message is not None:
                    connection.send(message)
                if connection.held and not connection.known.is_set():
                    state = state or decode_state_vector(self.node.doc.doc.get_state())
                    if reaches(state, connection.needs):
                        connection.known.set()

    # -- a connection --
    async def serve(self, websocket, name: str) -> None:
        """Speak the protocol with one client until it goes (the websocket is accepted)."""
        connection = Connection(websocket, name, generation=self.node.doc.generation.number)
        self.connections.add(connection)
        CONNECTIONS.inc()
        pump = asyncio.create_task(connection.pump(), name=f"yjs-send-{name}")
        applier = asyncio.create_task(self._apply(connection), name=f"yjs-apply-{name}")
        try:
            connection.send(create_sync_message(self.node.doc.doc))
            if states := self.awareness.states:
                connection.send(create_awareness_message(self.awareness.encode_awareness_update(list(states))))
            while not (pump.done() or applier.done()):
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes"):
                    await self._handle(connection, message["bytes"])
        except Refused as refusal:
            await close(websocket, 1008, str(refusal))
        except DocumentRestarted:
            await close(websocket, RESTARTED, RESTARTED_REASON)
        except DocumentError as error:  # the node could not take it now (e.g. its database is away)
            await close(websocket, 1013, error.detail)
        finally:
            self.connections.discard(connection)
            CONNECTIONS.dec()
            pump.cancel()
            applier.cancel()
            if connection.releaser is not None:
                connection.releaser.cancel()  # what it held goes with it: the client resends it on reconnect
            if connection.awareness_clients:
                gone = sorted(connection.awareness_clients)
                self.awareness.remove_awareness_states(gone, "disconnect")
                message = create_awareness_message(self.awareness.encode_awareness_update(gone))
                for other in self.connections:
                    other.send(message)
            if self.shadow is not None and not self.connections:
                self._drop_shadow()  # costs nothing while nobody is connected

    async def _handle(self, connection: Connection, message: bytes) -> None:
        try:
            if message[0] == YMessageType.SYNC:
                if message[1] == YSyncMessageType.SYNC_STEP1:
                    self._check_generation(connection, read_message(message[2:]))
                    connection.send(await self.node.submit(SyncReply(message[1:], connection.generation)))
                elif message[1] in (YSyncMessageType.SYNC_STEP2, YSyncMessageType.SYNC_UPDATE):
                    if (update := read_message(message[2:])) != EMPTY_UPDATE:
                        connection.inbox.append(update)
                        connection.received.set()
            elif message[0] == YMessageType.AWARENESS:
                self.awareness.apply_awareness_update(read_message(message[1:]), connection)
                for other in self.connections - {connection}:
                    other.send(message)
        except (IndexError, AssertionError, ValueError, RuntimeError, json.JSONDecodeError) as error:
            raise Refused(f"not a Yjs message: {error}") from None

    def _check_generation(self, connection: Connection, state_vector: bytes) -> None:
        """A client whose document holds an earlier generation's genesis is stale (so is
        a connection opened before the switch): it is closed before it gets an answer."""
        generation = self.node.doc.generation.number
        clients = decode_state_vector(state_vector).keys()
        if connection.generation != generation or earlier_genesis(generation) & clients:
            CHANGES.labels("stale").inc()
            log.info("a Yjs client of an earlier document generation refused", person=connection.name,
                     generation=generation)
            raise DocumentRestarted(RESTARTED_REASON)

    async def _apply(self, connection: Connection) -> None:
        """A connection's updates, in order, through the writer: those that come while one
        is being committed are merged into the next, so a burst of keystrokes shares one
        commit instead of each waiting for the commit before it."""
        try:
            while True:
                await connection.received.wait()
                connection.received.clear()
                updates, connection.inbox = connection.inbox, []
                update = updates[0] if len(updates) == 1 else merge_updates(*updates)
                await self.node.submit(PersonChange(self, connection, update))
        except PersonChangeRefused as refusal:
            await close(connection.websocket, 1008, refusal.detail)
        except DocumentRestarted:
            await close(connection.websocket, RESTARTED, RESTARTED_REASON)
        except DocumentError as error:  # the node could not take it now (e.g. its database is away)
            await close(connection.websocket, 1013, error.detail)

    def _on_awareness(self, topic: str, event) -> None:
        changes, origin = event
        if topic == "update" and isinstance(origin, Connection):
            origin.awareness_clients |= set(changes["added"]) | set(changes["updated"])
            origin.awareness_clients -= set(changes["removed"])
