"""The text node's client: which failures may move a request to another node, how
the budget answers stop the caller, and the typed answers of a real node."""

import shutil
import tempfile
from pathlib import Path

import httpx
import pytest
from coedit.local.processes import ServiceProcess
from coedit.local.servers import PostgresServer
from coedit.text_node.client import (
    BudgetExhausted, EditRefused, NotFound, OutcomeUnknown, Refused, TextNodeClient, TextNodesClient,
    Unavailable,
)
from coedit.text_node.models import EditOp, EditRequest, ReserveRequest, SettleRequest, SpendRequest

from tests.agent.conftest import TEXT, Peers, Router, Sleeps
from tests.conftest import AUTH_ENV, AUTH_TOKEN

EDIT = EditRequest(edit_id="a1:e1", agent_id="a1", intent_id="a1:i1",
                   op=EditOp(type="append", text=" The end."))


def spend(spend_id: str, tokens: int) -> SpendRequest:
    return SpendRequest(spend_id=spend_id, agent_id="a1", tokens=tokens)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def cluster(sleeps):
    """Two text nodes with their own state (replication is not what is tested)."""
    nodes = {"a": Peers(), "b": Peers()}
    router = Router({name: peers.app() for name, peers in nodes.items()})
    async with httpx.AsyncClient(transport=router) as http:
        client = TextNodesClient(["http://a", "http://b"], http=http, sleep=sleeps, unsure_timeout=30)
        yield client, nodes, router


async def test_an_edit_moves_on_when_the_node_refuses_connections(cluster):
    client, nodes, router = cluster
    router.dead.add("a")
    assert (await client.submit(EDIT)).edit_id == "a1:e1"
    assert (len(nodes["a"].edits), len(nodes["b"].edits)) == (0, 1)


async def test_an_edit_moves_on_after_a_5xx_answer(cluster):
    client, nodes, _ = cluster
    nodes["a"].down.add("/api/edits")
    await client.submit(EDIT)
    assert (len(nodes["a"].edits), len(nodes["b"].edits)) == (0, 1)


async def test_an_edit_whose_answer_was_lost_is_asked_again_of_the_same_node(cluster, sleeps):
    client, nodes, router = cluster
    router.lose_answers["a"] = 2  # node a applied it, then twice the answer got lost
    answer = await client.submit(EDIT)
    assert answer.model_dump() == nodes["a"].edits["a1:e1"]
    assert nodes["b"].edits == {} and nodes["a"].text == TEXT + " The end."  # applied once
    assert router.hosts == ["a", "a", "a"] and len(sleeps) == 1


async def test_an_edit_to_a_node_that_stays_away_has_an_unknown_outcome(cluster, sleeps):
    client, nodes, router = cluster
    router.lose_answers["a"] = 1000  # it got the edit, and no answer ever comes back
    with pytest.raises(OutcomeUnknown):
        await client.submit(EDIT)
    assert nodes["b"].edits == {}  # never sent elsewhere: a may have applied it
    assert set(router.hosts) == {"a"} and sum(sleeps) >= 30


async def test_finding_an_edit_asks_every_node_and_names_the_silent_ones(cluster):
    client, nodes, router = cluster
    router.dead.add("a")
    assert await client.find_edit(EDIT.edit_id) == (None, ["http://a"])  # a might hold it
    accepted = await client.submit(EDIT)
    assert await client.find_edit(EDIT.edit_id) == (accepted, ["http://a"])
    router.dead.clear()
    assert await client.find_edit(EDIT.edit_id) == (accepted, [])
    assert await client.find_edit("a1:e2") == (None, [])  # no node holds it: never applied


async def test_reads_move_on_after_any_failure(cluster):
    client, _, router = cluster
    router.lose_answers["a"] = 1
    assert (await client.document()).text == TEXT
    assert router.hosts == ["a", "b"]


async def test_when_every_node_is_down_a_read_backs_off_then_is_unavailable(cluster, sleeps):
    client, _, router = cluster
    router.dead.update({"a", "b"})
    client.attempts = 3
    with pytest.raises(Unavailable):
        await client.budget()
    assert len(router.hosts) == 6 and len(sleeps) == 2


# --- against a real node ------------------------------------------------------


@pytest.fixture(scope="module")
def node():
    base = Path(tempfile.mkdtemp(prefix="coedit-test-client-"))
    database = PostgresServer(base / "pg", fsync=False).start()
    process = ServiceProcess(
        "text-node",
        ["--node-id", "a", "--database-url", database.url, "--initial-text", "Один. Два. Один.",
         "--token-budget", "100"],
        base, env=AUTH_ENV,
    ).start()
    yield process
    process.stop()
    database.stop()
    shutil.rmtree(base, ignore_errors=True)


async def test_a_real_node_answers_in_its_own_models(node):
    async with TextNodeClient(node.url, token=AUTH_TOKEN, timeout=10) as client:
        assert await client.ready()
        accepted = await client.submit(EditRequest(edit_id="c1", agent_id="t", op=EditOp(
            type="insert_after", anchor="Два.", text=" Три.")))
        assert accepted.node_id == "a" and accepted.version >= 1
        assert (await client.submit(EditRequest(edit_id="c1", agent_id="t", op=EditOp(
            type="append", text="ignored: the id was applied")))) == accepted  # idempotent
        document = await client.document()
        assert "Два. Три." in document.text and document.version == accepted.version
        assert (await client.version_text(0)).text == "Один. Два. Один."
        assert await client.find_edit("c1") == (accepted, [])
        assert await client.find_edit("writers/w-1:e9") == (None, [])
        lookup = httpx.get(f"{node.url}/api/edits/writers/w-1:e9", timeout=10)
        assert lookup.status_code == 404 and lookup.json()["error"] == "edit_not_found"
        log = await client.edits(after_version=accepted.version - 1)
        assert [e.edit_id for e in log.edits] == ["c1"]
        assert (await client.replication()).node_id == "a"
        assert "coedit" in await client.metrics()
        with pytest.raises(NotFound):
            await client.version_text(10_000)


async def test_a_real_node_refuses_in_typed_errors(node):
    async with TextNodeClient(node.url, token=AUTH_TOKEN, timeout=10) as client:
        with pytest.raises(EditRefused) as refused:
            await client.submit(EditRequest(edit_id="c2", agent_id="t", op=EditOp(
                type="replace", anchor="Один.", text="x")))
        assert (refused.value.status, refused.value.code, refused.value.matches) == (409, "anchor_ambiguous", 2)
        with pytest.raises(EditRefused) as refused:
            await client.submit(EditRequest(edit_id="c3", agent_id="t", op=EditOp(
                type="delete", anchor="Пять.")))
        assert refused.value.code == "anchor_not_found"
    async with TextNodeClient(node.url, timeout=10) as anonymous:
        with pytest.raises(Refused) as refused:
            await anonymous.spend(spend("s0", 1))
        assert (refused.value.status, refused.value.code) == (401, "unauthorized")


async def test_a_real_node_reserves_settles_and_says_when_the_budget_is_spent(node):
    async with TextNodeClient(node.url, token=AUTH_TOKEN, timeout=10) as client:
        granted = await client.reserve(ReserveRequest(reservation_id="r1", agent_id="t", tokens=80))
        assert (granted.node_id, granted.tokens) == ("a", 80)
        assert (await client.budget()).reserved == 80
        settled = await client.settle(SettleRequest(reservation_id="r1", tokens=30))
        assert (settled.state, settled.tokens, settled.released) == ("settled", 30, 50)
        with pytest.raises(BudgetExhausted):  # 70 left
            await client.reserve(ReserveRequest(reservation_id="r2", agent_id="t", tokens=71))
        with pytest.raises(BudgetExhausted):  # nor is a spend the budget cannot cover recorded
            await client.spend(spend("s1", 150))
        budget = await client.budget()
        assert (budget.spent, budget.reserved, budget.remaining, budget.exhausted) == (30, 0, 70, True)


async def test_a_node_that_is_not_there_is_unavailable():
    from coedit.local.servers import free_port
    async with TextNodeClient(f"http://127.0.0.1:{free_port()}", timeout=2) as client:
        assert not await client.ready()
        with pytest.raises(Unavailable):
            await client.document()
