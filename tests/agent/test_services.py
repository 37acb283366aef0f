"""The agent's peers: which failures may move a request to another text node, and
how the budget answers stop the agent."""

import httpx
import pytest
from coedit.agent.services import BudgetExhausted, OutcomeUnknown, TextNodes

from tests.agent.conftest import TEXT, Peers, Router

EDIT = {"edit_id": "a1:e1", "agent_id": "a1", "intent_id": "a1:i1",
        "op": {"type": "append", "anchor": "", "text": " The end."}}


@pytest.fixture
async def cluster(sleeps):
    """Two text nodes with their own state (replication is not what is tested)."""
    nodes = {"a": Peers(), "b": Peers()}
    router = Router({name: peers.app() for name, peers in nodes.items()})
    async with httpx.AsyncClient(transport=router) as http:
        service = TextNodes(http, ["http://a", "http://b"], sleep=sleeps, unsure_timeout=30)
        yield service, nodes, router


async def test_an_edit_moves_on_when_the_node_refuses_connections(cluster):
    service, nodes, router = cluster
    router.dead.add("a")
    assert (await service.submit(EDIT))["edit_id"] == "a1:e1"
    assert (len(nodes["a"].edits), len(nodes["b"].edits)) == (0, 1)


async def test_an_edit_moves_on_after_a_5xx_answer(cluster):
    service, nodes, _ = cluster
    nodes["a"].down.add("/api/edits")
    await service.submit(EDIT)
    assert (len(nodes["a"].edits), len(nodes["b"].edits)) == (0, 1)


async def test_an_edit_whose_answer_was_lost_is_asked_again_of_the_same_node(cluster, sleeps):
    service, nodes, router = cluster
    router.lose_answers["a"] = 2  # node a applied it, then twice the answer got lost
    answer = await service.submit(EDIT)
    assert answer == nodes["a"].edits["a1:e1"]
    assert nodes["b"].edits == {} and nodes["a"].text == TEXT + " The end."  # applied once
    assert router.hosts == ["a", "a", "a"] and len(sleeps) == 1


async def test_an_edit_to_a_node_that_stays_away_has_an_unknown_outcome(cluster, sleeps):
    service, nodes, router = cluster
    router.lose_answers["a"] = 1000  # it got the edit, and no answer ever comes back
    with pytest.raises(OutcomeUnknown):
        await service.submit(EDIT)
    assert nodes["b"].edits == {}  # never sent elsewhere: a may have applied it
    assert set(router.hosts) == {"a"} and sum(sleeps) >= 30


async def test_reads_move_on_after_any_failure(cluster):
    service, _, router = cluster
    router.lose_answers["a"] = 1
    assert (await service.document())["text"] == TEXT
    assert router.hosts == ["a", "b"]


async def test_a_spend_crossing_the_limit_says_exhausted_and_a_later_one_is_429(cluster):
    service, nodes, _ = cluster
    nodes["a"].budget = 100
    assert (await service.spend("s1", "a1", 60))["exhausted"] is False
    assert (await service.spend("s2", "a1", 60))["exhausted"] is True
    with pytest.raises(BudgetExhausted):
        await service.spend("s3", "a1", 5)
    assert nodes["a"].spent == 125  # recorded all the same
