"""History of versions applied in bulk, on a real PostgreSQL, in process: the
history builder gives every version the text it had when the node applied it."""

import random

import pytest
from prometheus_client import REGISTRY

from coedit.text_node import node as node_module
from coedit.text_node.document import ReplicatedDocument
from coedit.text_node.errors import HistoryCatchingUp
from coedit.text_node.models import LogRecord
from coedit.text_node.node import BULK_RECORDS, RemoteWork
from coedit.text_node.store import encode
from tests.text_node.test_document import INITIAL, edit


@pytest.fixture
async def text_node(start_node):
    return await start_node(INITIAL)


def peer_records(count: int) -> tuple[list[LogRecord], list[str]]:
    """Edits of every kind from two writers that see each other's edits, and the text
    after each of them on a replica that applies them one by one with deltas."""
    rng = random.Random(5)
    writers, replica = [ReplicatedDocument(INITIAL) for _ in range(2)], ReplicatedDocument(INITIAL)
    records, texts = [], [INITIAL]
    while len(records) < count:
        writer = len(records) % 2
        if change := edit(writers[writer], f"e{len(records)}", rng):
            writers[1 - writer].apply_update(change.update)
            replica.apply_update(change.update)
            records.append(LogRecord(seq=len(records) + 1, kind="edit", record_id=f"e{len(records)}",
                                     origin="w", update=encode(change.update)))
            texts.append(replica.current_text())
    return records, texts


async def test_versions_applied_in_bulk_get_their_texts(text_node, monkeypatch):
    records, texts = peer_records(3 * BULK_RECORDS)
    await text_node.submit(RemoteWork(peer="w", epoch="x", records=records, after_seq=0, last_seq=len(records)))
    assert text_node.committed.text == texts[-1]

    monkeypatch.setattr(node_module, "HISTORY_WAIT_SECONDS", 0.05)
    with pytest.raises(HistoryCatchingUp):  # not yet rebuilt: says so, never a wrong text
        await text_node.text_at(len(records) // 2)

    assert await text_node.history.fill() == len(records)
    assert REGISTRY.get_sample_value("coedit_text_history_pending_versions") == 0
    assert [await text_node.text_at(v) for v in range(len(texts))] == texts
    assert await text_node.history.fill() == 0


async def test_a_small_batch_records_deltas_on_arrival(text_node):
    records, texts = peer_records(BULK_RECORDS // 2)
    await text_node.submit(RemoteWork(peer="w", epoch="x", records=records, after_seq=0, last_seq=len(records)))
    assert await text_node.history.fill() == 0
    assert [await text_node.text_at(v) for v in range(len(texts))] == texts


async def test_a_restart_before_the_history_is_built_builds_it(text_node, start_node):
    records, texts = peer_records(2 * BULK_RECORDS)
    await text_node.submit(RemoteWork(peer="w", epoch="x", records=records, after_seq=0, last_seq=len(records)))
    await text_node.stop()  # before its builder ran

    restarted = await start_node(INITIAL)
    assert restarted.committed.text == texts[-1]
    assert await restarted.history.fill() == len(records)
    assert [await restarted.text_at(v) for v in range(len(texts))] == texts
