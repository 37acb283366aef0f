"""The node's PostgreSQL goes away and comes back, in process on a real server: the
edit whose commit failed is answered 503 and left out, the node reloads from the
database and goes on, and the client's retry is applied once."""

import asyncio
import time

import httpx
import pytest

from coedit.text_node.errors import StorageUnavailable
from coedit.text_node.models import EditRequest
from coedit.text_node.node import EditWork
from tests.conftest import AUTH, AUTH_TOKEN
from tests.text_node.test_document import INITIAL


def append(edit_id: str, text: str) -> EditRequest:
    return EditRequest(edit_id=edit_id, agent_id="t", op={"type": "append", "text": text})


async def retry_until_stored(node, request: EditRequest, attempts: int = 120):
    for _ in range(attempts):
        try:
            return await node.submit(EditWork(request))
        except StorageUnavailable:
            await asyncio.sleep(0.5)
    raise AssertionError("the node did not recover")


def test_a_node_whose_database_stops_refuses_quickly_and_recovers_by_itself(postgres, service_factory):
    """A real process: every route that needs the database answers 503
    storage_unavailable within a second or two (never a 500, never a hang), /readyz
    says not ready, and once the database is back the node is ready again and the
    retried edit is applied once."""
    node = service_factory("text-node", ["--node-id", "a", "--database-url", postgres.url,
                                         "--initial-text", INITIAL]).start()
    with httpx.Client(base_url=node.url, headers=AUTH, timeout=10) as client:
        body = {"edit_id": "e1", "agent_id": "t", "op": {"type": "append", "text": " один"}}
        assert client.post("/api/edits", json=body).status_code == 201
        postgres.stop()
        body = {**body, "edit_id": "e2", "op": {"type": "append", "text": " два"}}
        for request in [("POST", "/api/edits", body), ("POST", "/api/edits", body),
                        ("GET", "/internal/log", None), ("GET", "/api/edits", None),
                        ("GET", "/api/document/versions/0", None), ("POST", "/api/budget/spend",
                        {"spend_id": "s1", "agent_id": "t", "tokens": 1})]:
            method, path, json = request
            started = time.monotonic()
            answer = client.request(method, path, json=json)
            assert (answer.status_code, answer.json()["error"]) == (503, "storage_unavailable"), (path, answer.text)
            assert time.monotonic() - started < 5, path
        assert client.get("/readyz").status_code == 503
        assert client.get("/api/document").json()["text"] == INITIAL + " один"  # reads from memory go on

        postgres.start()
        for _ in range(120):
            if client.get("/readyz").status_code == 200:
                break
            time.sleep(0.5)
        assert client.post("/api/edits", json=body).status_code == 201
        assert client.post("/api/edits", json=body).json()["version"] == 2
        assert client.get("/api/document").json()["text"] == INITIAL + " один два"
    logs = node.logs()
    assert "Exception in ASGI application" not in logs and '"level": "error"' not in logs


async def test_a_failed_commit_answers_503_changes_nothing_and_the_retry_applies_once(postgres, start_node):
    node = await start_node(INITIAL)
    await node.submit(EditWork(append("e1", " один")))
    postgres.stop()
    with pytest.raises(StorageUnavailable):
        await node.submit(EditWork(append("e2", " два")))
    assert node.committed.text == INITIAL + " один"

    with pytest.raises(StorageUnavailable):  # while it is away, refused at once
        await asyncio.wait_for(node.submit(EditWork(append("e2", " два"))), 5)

    postgres.start()  # same data, same port: the writer's reload loop gets through
    retried = await retry_until_stored(node, append("e2", " два"))
    again = await node.submit(EditWork(append("e2", " два")))
    assert retried.version == again.version == 2
    assert node.committed.text == INITIAL + " один два"
    assert [await node.text_at(v) for v in range(3)] == [INITIAL, INITIAL + " один", INITIAL + " один два"]


@pytest.mark.parametrize("failure", [ConnectionRefusedError("the database went away"), RuntimeError("a bug")])
async def test_a_compaction_that_fails_leaves_the_writer_committing(start_node, monkeypatch, failure):
    """The writer compacts right after a commit: a database gone at that moment, or
    a bug there, must not end the writer (the node would stay ready and leave every
    later change unanswered). The compaction is tried again after a later commit."""
    node = await start_node(INITIAL, compact_every=2)
    node.history.complete.set()
    real, failures = type(node.store).save_crdt_snapshot, []

    async def failing_once(self, *args):
        if not failures:
            failures.append(failure)
            raise failure
        return await real(self, *args)

    monkeypatch.setattr(type(node.store), "save_crdt_snapshot", failing_once)
    await node.submit(EditWork(append("e1", " один")))
    await node.submit(EditWork(append("e2", " два")))  # the writer compacts after answering it
    accepted = await asyncio.wait_for(retry_until_stored(node, append("e3", " три")), 30)
    assert failures and accepted.version == 3
    await node.submit(EditWork(append("e4", " четыре")))
    assert node.committed.text == INITIAL + " один два три четыре"
    for _ in range(50):  # compacted after a later commit
        if (await node.store.snapshot(INITIAL)).seq > 0:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("no compaction after the failed one")
