"""`GET /api/edits/{id}` while a POST of the same edit is still on its way to the
writer (its rate limit, budget rights asked of peers): the lookup waits for it, since
a caller told "no such edit" may send it to another node, which would apply it twice.
In process, on a real PostgreSQL."""

import asyncio

from coedit.text_node import node as node_module
from coedit.text_node.errors import EditInProgress
from coedit.text_node.node import EditWork
from tests.text_node.test_document import INITIAL
from tests.text_node.test_storage_failure import append


async def test_a_lookup_waits_for_a_post_of_the_same_edit_on_its_way(start_node):
    node = await start_node(INITIAL)
    with node.arriving("e1"):
        lookup = asyncio.create_task(node.lookup("e1"))
        await asyncio.sleep(0.2)  # the POST waits for budget rights meanwhile
        assert not lookup.done()
        accepted = await node.submit(EditWork(append("e1", " One.")))
    assert await asyncio.wait_for(lookup, 10) == accepted
    assert await node.lookup("nobody") is None  # nothing on its way: answered at once


async def test_a_post_that_fails_on_its_way_is_then_looked_up_as_absent(start_node):
    node = await start_node(INITIAL)
    lookup = None
    try:
        with node.arriving("e2"):
            lookup = asyncio.create_task(node.lookup("e2"))
            await asyncio.sleep(0.1)
            raise RuntimeError("the budget could not cover it")
    except RuntimeError:
        pass
    assert await asyncio.wait_for(lookup, 10) is None


async def test_a_lookup_does_not_wait_for_ever(start_node, monkeypatch):
    monkeypatch.setattr(node_module, "LOOKUP_WAIT_SECONDS", 0.2)
    node = await start_node(INITIAL)
    with node.arriving("e3"):
        try:
            await node.lookup("e3")
        except EditInProgress as error:
            assert "still on its way" in error.detail
        else:
            raise AssertionError("a lookup of an edit still on its way answered")
