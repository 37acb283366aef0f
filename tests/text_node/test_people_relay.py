"""When a person's editor gets a change: a peer's record as it comes (the peer
committed it before pushing it; the push is answered once queued), this node's own
changes only once this node has committed them. In process, on a real PostgreSQL,
with the node's commit held open."""

import asyncio

import pytest
from pycrdt import Doc, Text, read_message

from coedit.text_node.document import ReplicatedDocument
from coedit.text_node.errors import InvalidUpdate
from coedit.text_node.models import EditOp, EditRequest, LogRecord, Push
from coedit.text_node.node import RemoteWork
from coedit.text_node.people import Connection, PersonChange, Room
from coedit.text_node.routers import replication as replication_routes
from coedit.text_node.routers.replication import receive_push
from coedit.text_node.store import encode
from tests.text_node.test_document import INITIAL


class Editor:
    """A connection's far end: a Yjs document that takes what the node sends it."""

    def __init__(self, room: Room, name: str):
        self.connection = Connection(websocket=None, name=name)
        room.connections.add(self.connection)
        self.doc = Doc()
        self.text = self.doc.get("text", type=Text)
        self.doc.apply_update(room.node.doc.doc.get_update())

    def receive(self) -> int:
        """Apply every update message waiting in the outbox; how many there were."""
        count = 0
        while not self.connection.outbox.empty():
            self.doc.apply_update(read_message(self.connection.outbox.get_nowait()[2:]))
            count += 1
        return count


@pytest.fixture
async def held(start_node, monkeypatch):
    """A node whose commits wait for the returned event, and its room."""
    node = await start_node(INITIAL)
    gate, commit = asyncio.Event(), node.store.commit

    async def held_commit(batch):
        await gate.wait()
        return await commit(batch)

    monkeypatch.setattr(node.store, "commit", held_commit)
    return Room(node), gate


def peer_record() -> LogRecord:
    """Peer p's first edit (an append of " Пир."), as p pushes it."""
    peer = ReplicatedDocument(INITIAL)
    change = peer.apply_edit(EditRequest(edit_id="e1", agent_id="x", op=EditOp(type="append", text=" Пир.")), "p")
    return LogRecord(seq=1, kind="edit", record_id="e1", origin="p", update=encode(change.update))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_peers_record_reaches_the_editors_before_this_node_commits_it(held):
    room, gate = held
    ada = Editor(room, "Ada")
    record = peer_record()
    pushed = asyncio.create_task(room.node.submit(RemoteWork(peer="p", epoch="x", records=[record], after_seq=0,
                                                             last_seq=1)))
    await settle()
    assert not pushed.done()  # this node's commit is still open
    assert ada.receive() == 1 and str(ada.text) == INITIAL + " Пир."

    gate.set()
    assert await pushed == 1
    assert room.node.committed.text == INITIAL + " Пир."
    assert ada.receive() == 0  # not sent again after this node's commit


async def test_a_push_is_answered_before_this_node_commits_it(held):
    room, gate = held
    push = Push(node_id="p", epoch="x", genesis=room.node.doc.genesis, after_seq=0,
                records=[peer_record()])
    assert await asyncio.wait_for(receive_push(room.node, push), 5) == {"queued": 1}
    assert room.node.committed.version == 0  # the commit is still held
    gate.set()
    for _ in range(500):  # 5 s at most
        if room.node.committed.version:
            break
        await asyncio.sleep(0.01)
    assert room.node.committed.text == INITIAL + " Пир."


async def test_with_a_backlog_a_push_is_answered_after_its_commit(held, monkeypatch):
    """Backpressure: a pusher faster than this node's commits waits for them."""
    room, gate = held
    monkeypatch.setattr(replication_routes, "BACKLOG_BEFORE_WAITING", 0)
    push = Push(node_id="p", epoch="x", genesis=room.node.doc.genesis, after_seq=0,
                records=[peer_record()])
    answer = asyncio.create_task(receive_push(room.node, push))
    await settle()
    assert not answer.done()  # the commit is held: so is the answer
    gate.set()
    assert await asyncio.wait_for(answer, 5) == {"queued": 1}
    assert room.node.committed.text == INITIAL + " Пир."


async def test_a_record_that_is_no_update_is_not_relayed_and_the_others_are(held):
    room, gate = held
    ada = Editor(room, "Ada")
    records = [peer_record(),
               LogRecord(seq=2, kind="text", record_id="t2", origin="p", update=encode(b"no update"))]
    pushed = asyncio.create_task(room.node.submit(RemoteWork(peer="p", epoch="x", records=records, after_seq=0,
                                                             last_seq=2)))
    await settle()
    assert ada.receive() == 1 and str(ada.text) == INITIAL + " Пир."
    gate.set()
    with pytest.raises(InvalidUpdate):  # as before: the writer keeps what came before it and refuses it
        await pushed
    assert room.node.committed.text == INITIAL + " Пир."


async def test_a_persons_change_reaches_the_others_only_after_this_nodes_commit(held):
    room, gate = held
    ada, bob = Editor(room, "Ada"), Editor(room, "Bob")
    updates = []
    ada.doc.observe(lambda event: updates.append(event.update))
    ada.text.insert(0, "Эй! ")
    typed = asyncio.create_task(room.node.submit(PersonChange(room, ada.connection, updates[-1])))
    await settle()
    assert not typed.done() and bob.receive() == 0

    gate.set()
    assert await typed == 1
    assert bob.receive() == 1 and str(bob.text) == "Эй! " + INITIAL
