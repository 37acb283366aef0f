"""The node's PostgreSQL goes away and comes back, in process on a real server: the
edit whose commit failed is answered 503 and left out, the node reloads from the
database and goes on, and the client's retry is applied once."""

import asyncio

import pytest

from coedit.common.errors import ApiError
from coedit.text_node.models import EditRequest
from coedit.text_node.node import EditWork
from tests.text_node.test_document import INITIAL


def append(edit_id: str, text: str) -> EditRequest:
    return EditRequest(edit_id=edit_id, agent_id="t", op={"type": "append", "text": text})


async def test_a_failed_commit_answers_503_changes_nothing_and_the_retry_applies_once(postgres, start_node):
    node = await start_node(INITIAL)
    await node.submit(EditWork, request=append("e1", " один"))
    postgres.stop()
    with pytest.raises(ApiError) as caught:
        await node.submit(EditWork, request=append("e2", " два"))
    assert (caught.value.status, caught.value.body()["error"]) == (503, "storage_unavailable")
    assert node.committed.text == INITIAL + " один"

    postgres.start()  # same data, same port: the writer's reload loop gets through
    retried = await asyncio.wait_for(node.submit(EditWork, request=append("e2", " два")), 60)
    again = await node.submit(EditWork, request=append("e2", " два"))
    assert retried.version == again.version == 2
    assert node.committed.text == INITIAL + " один два"
    assert [await node.text_at(v) for v in range(3)] == [INITIAL, INITIAL + " один", INITIAL + " один два"]
