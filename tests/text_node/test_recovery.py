"""A node that restarts, whenever it was stopped, numbers its next version where its
database left off (in process, on a real PostgreSQL).

The defect this guards against: a node SIGKILLed twice in quick succession came back
with one version fewer than its `versions` table, and from then on every commit
failed on a duplicate version. The cause: the compacted CRDT snapshot was encoded
from the live document, and Yrs leaves out of that encoding the records it holds
pending (a peer's edit that arrived before what it depends on); once they integrated
and were numbered, a restart from that snapshot no longer had them."""

import asyncio

import pytest

from coedit.text_node import node as node_module
from coedit.text_node.document import ReplicatedDocument
from coedit.text_node.models import EditRequest, LogRecord
from coedit.text_node.node import EditWork, RemoteWork
from coedit.text_node.store import encode
from tests.text_node.test_document import INITIAL


def append(edit_id: str, text: str) -> EditRequest:
    return EditRequest(edit_id=edit_id, agent_id="t", op={"type": "append", "text": text})


def peer_edits(count: int) -> list[LogRecord]:
    """Edits by a peer, each depending on the one before (appends to its own text)."""
    peer = ReplicatedDocument(INITIAL)
    return [
        LogRecord(seq=i + 1, kind="edit", record_id=f"p{i}", origin="p",
                  update=encode(peer.apply_edit(append(f"p{i}", f" p{i}"), "p").update))
        for i in range(count)
    ]


def remote(*records: LogRecord) -> RemoteWork:
    return RemoteWork(peer="p", epoch="x", records=list(records), after_seq=None, last_seq=0)


async def consistent(node) -> int:
    """The node's version agrees with its versions table, and the next edit commits."""
    count, highest = await node.store.version_summary()
    assert node.committed.version == count == highest
    accepted = await node.submit(EditWork(append(f"after-{count}", " ещё")))
    assert accepted.version == count + 1
    return count


async def test_records_pending_at_a_compaction_survive_a_restart(start_node, monkeypatch):
    node = await start_node(INITIAL, compact_every=2)
    node.history.complete.set()
    first, second = peer_edits(2)
    await node.submit(EditWork(append("e0", " свой")))
    await node.submit(remote(second))  # arrives first: pending in Yrs; the snapshot is taken now
    assert node.committed.version == 1
    await node.submit(remote(first))  # both integrate: versions 2 and 3
    assert node.committed.version == 3
    text = node.committed.text
    await node.stop()

    restarted = await start_node(INITIAL)
    assert (restarted.committed.version, restarted.committed.text) == (3, text)
    await consistent(restarted)


async def test_a_database_left_with_a_snapshot_lacking_pending_records_is_repaired(start_node):
    """What an older node wrote: the snapshot encoded from its live document while a
    record was pending. The restart merges the whole log and recovers it."""
    node = await start_node(INITIAL)
    first, second = peer_edits(2)
    await node.submit(EditWork(append("e0", " свой")))
    await node.submit(remote(second))
    await node.store.save_crdt_snapshot(0, node.last_seq, node.doc.doc.get_update())  # without `second`
    await node.submit(remote(first))
    text = node.committed.text
    await node.stop()

    restarted = await start_node(INITIAL)
    assert (restarted.committed.version, restarted.committed.text) == (3, text)
    await consistent(restarted)
    assert [await restarted.text_at(v) for v in (1, 3)] == [INITIAL + " свой", text]


class Killed(BaseException):
    """Stands for SIGKILL: no `except Exception` in the node catches it."""


KILL_POINTS = [
    (method, when, call)
    for method in ("commit", "save_crdt_snapshot", "fill_deltas")
    for when in ("before", "after")
    for call in (1, 2)
]


@pytest.mark.parametrize(("method", "when", "call"), KILL_POINTS)
async def test_killed_anywhere_in_the_commit_path_the_node_restarts_consistent(
    start_node, monkeypatch, method, when, call
):
    """Kill the node before or after the Nth database write of each kind of its
    commit path (group commit, compaction, history fill), then restart it on the
    same database: it holds every committed version, numbers the next one right,
    and serves the text of each."""
    monkeypatch.setattr(node_module, "BULK_RECORDS", 4)  # peer pages of 4+ go without deltas
    node = await start_node(INITIAL, compact_every=3)
    store = node.store
    real, calls = getattr(type(store), method), 0

    async def dying(self, *args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == call and when == "before":
            raise Killed
        result = await real(self, *args, **kwargs)
        if calls == call:
            raise Killed
        return result

    records = peer_edits(12)
    workload = [
        EditWork(append("e0", " один")),
        remote(records[1]),  # pending until records[0]
        remote(records[0]),
        remote(*records[2:7]),  # a bulk page: its deltas are left to the history builder
        EditWork(append("e1", " два")),
        remote(records[8]),
        remote(records[7], *records[9:12]),
        EditWork(append("e2", " три")),
    ]
    monkeypatch.setattr(type(store), method, dying)
    try:
        for work in workload:
            done = asyncio.ensure_future(node.submit(work))
            await asyncio.wait([done, node._writer], timeout=10, return_when=asyncio.FIRST_COMPLETED)
            if node._writer.done():
                break
            await done
            try:  # what the history builder's pass does between commits; compactions may follow
                await node.history.fill()
            except Killed:
                break
            node.history.complete.set()
    finally:
        monkeypatch.setattr(type(store), method, real)
        await node.stop()

    restarted = await start_node(INITIAL)
    version = await consistent(restarted)
    assert version >= 0
    await restarted.history.fill()
    texts = [await restarted.text_at(v) for v in range(version + 2)]
    assert texts[-1] == restarted.committed.text and None not in texts


async def test_a_failing_commit_listener_does_not_stop_the_writer(start_node):
    """A listener (the people's broadcast, the pusher) that raises is logged; the
    commit stands and the node goes on committing (it used to end the writer task,
    and every later change waited forever)."""
    node = await start_node(INITIAL)

    def broken(*_):
        raise RuntimeError("listener bug")

    node.on_commit.insert(0, broken)
    await asyncio.wait_for(node.submit(EditWork(append("e1", " один"))), 10)
    await asyncio.wait_for(node.submit(EditWork(append("e2", " два"))), 10)
    assert node.committed.version == 2
