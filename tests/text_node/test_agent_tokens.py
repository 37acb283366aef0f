"""Per-agent tokens and write rates on a real text node: an agent's own token writes
only as that agent (edits, budget, restore) and never reaches internal routes; the
session token still writes as anyone; over its rate an agent gets 429 + Retry-After."""

import time

import httpx
import pytest

from tests.conftest import AUTH

ADA, BOB = "ada-token-0123456789", "bob-token-0123456789"
AGENT_ENV = {"COEDIT_AGENT_TOKENS": f"ada={ADA},bob={BOB}"}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def edit(edit_id: str, agent_id: str, text: str = " Ещё.") -> dict:
    return {"edit_id": edit_id, "agent_id": agent_id, "op": {"type": "append", "text": text}}


@pytest.fixture
def start_node(postgres, service_factory):
    def start(*flags: str, env: dict | None = None):
        args = ["--node-id", "a", "--database-url", postgres.url, "--initial-text", "Начало.", *flags]
        return service_factory("text-node", args, env={**AGENT_ENV, **(env or {})}).start()
    return start


def test_an_agent_token_writes_only_as_its_agent(start_node):
    node = start_node()
    with httpx.Client(base_url=node.url, timeout=30) as http:
        def post(path: str, body: dict, headers: dict) -> httpx.Response:
            return http.post(path, json=body, headers=headers)

        assert post("/api/edits", edit("e-ada", "ada"), bearer(ADA)).status_code == 201
        mismatch = post("/api/edits", edit("e-forged", "bob", " Подлог."), bearer(ADA))
        assert mismatch.status_code == 403, mismatch.text
        assert mismatch.json()["error"] == "agent_mismatch" and "bob" in mismatch.json()["detail"]
        assert post("/api/edits", edit("e-any", "carol"), AUTH).status_code == 201  # the session: anyone
        assert post("/api/edits", edit("e-bad", "ada"), bearer("not-a-known-token-123")).status_code == 401

        edits = http.get("/api/edits").json()["edits"]
        assert [(e["edit_id"], e["agent_id"]) for e in edits] == [("e-ada", "ada"), ("e-any", "carol")]
        assert "Подлог" not in http.get("/api/document").json()["text"]

        # the budget: reserve, spend and settle only for the token's own agent
        reserve = {"reservation_id": "r-ada", "agent_id": "ada", "tokens": 50}
        assert post("/api/budget/reserve", reserve | {"agent_id": "bob"}, bearer(ADA)).status_code == 403
        assert post("/api/budget/reserve", reserve, bearer(ADA)).status_code == 200
        assert post("/api/budget/reserve", reserve | {"agent_id": "bob"}, bearer(BOB)).status_code == 403  # ada's id
        assert post("/api/budget/settle", {"reservation_id": "r-ada", "tokens": 7}, bearer(BOB)).status_code == 403
        assert post("/api/budget/spend", {"spend_id": "s-1", "agent_id": "ada", "tokens": 5},
                    bearer(BOB)).status_code == 403
        assert http.get("/api/budget").json()["spent"] == 0
        assert post("/api/budget/settle", {"reservation_id": "r-ada", "tokens": 7}, bearer(ADA)).status_code == 200
        assert post("/api/budget/spend", {"spend_id": "s-2", "agent_id": "bob", "tokens": 5},
                    bearer(BOB)).status_code == 200
        assert http.get("/api/budget").json()["spent"] == 12

        # a restore is as its agent_id too
        assert post("/api/document/restore", {"version": 0, "agent_id": "bob"}, bearer(ADA)).status_code == 403
        assert post("/api/document/restore", {"version": 0, "agent_id": "ada"}, bearer(ADA)).status_code == 201

        # internal routes (replication, the escrow) are the session token's only
        assert http.get("/internal/log", headers=bearer(ADA)).status_code == 401
        transfer = post("/internal/budget/transfer", {"genesis": "x", "writer": "w", "tokens": 1}, bearer(ADA))
        assert transfer.status_code == 401, transfer.text
        assert http.get("/internal/log", headers=AUTH).status_code == 200


def test_a_settle_passed_on_to_the_reservations_node_is_checked_there(text_cluster_factory, links):
    """b has not seen ada's reservation on a (a's pushes are cut, b pulls once a
    minute): b passes a settle on to a, which refuses bob's; when no node holding it
    answers, an agent's settle is 503 (retry), never recorded unchecked for later."""
    cluster = text_cluster_factory(env=AGENT_ENV, sync_interval=60, peer_url=links.url)
    links.cut("a", "b")
    links.cut("a", "c")
    a, b = cluster["a"].url, cluster["b"].url
    reserve = {"reservation_id": "r-ada", "agent_id": "ada", "tokens": 50}
    assert httpx.post(f"{a}/api/budget/reserve", json=reserve, headers=bearer(ADA), timeout=30).status_code == 200
    settle = {"reservation_id": "r-ada", "tokens": 7}
    forged = httpx.post(f"{b}/api/budget/settle", json=settle, headers=bearer(BOB), timeout=30)
    assert (forged.status_code, forged.json()["error"]) == (403, "agent_mismatch"), forged.text
    assert httpx.get(f"{a}/api/budget", timeout=10).json()["spent"] == 0
    own = httpx.post(f"{b}/api/budget/settle", json=settle, headers=bearer(ADA), timeout=30)
    assert (own.status_code, own.json()["state"]) == (200, "settled"), own.text
    assert httpx.get(f"{a}/api/budget", timeout=10).json()["spent"] == 7

    reserve["reservation_id"] = settle["reservation_id"] = "r-ada-2"
    assert httpx.post(f"{a}/api/budget/reserve", json=reserve, headers=bearer(ADA), timeout=30).status_code == 200
    links.partition({"a"})
    unverifiable = httpx.post(f"{b}/api/budget/settle", json=settle, headers=bearer(BOB), timeout=30)
    assert (unverifiable.status_code, unverifiable.json()["error"]) == (503, "budget_unavailable"), unverifiable.text
    links.heal()
    budget = httpx.get(f"{a}/api/budget", timeout=10).json()
    assert (budget["spent"], budget["reserved"]) == (7, 50)  # nothing recorded for bob to settle later


def test_a_bad_agent_token_list_stops_the_node(start_node):
    with pytest.raises(RuntimeError, match="shorter than 16") as refused:
        start_node(env={"COEDIT_AGENT_TOKENS": "ada=short"})
    assert "ada=short" not in str(refused.value)  # a token, even a bad one, is never echoed


def test_agent_write_rate(start_node):
    # four writes in a 5-s window: well inside it even on a loaded machine
    node = start_node("--agent-writes-per-minute", "3", "--agent-writes-window", "5")
    with httpx.Client(base_url=node.url, timeout=30) as http:
        for n in range(3):
            assert http.post("/api/edits", json=edit(f"e-{n}", "ada"), headers=bearer(ADA)).status_code == 201
        over = http.post("/api/edits", json=edit("e-over", "ada"), headers=AUTH)  # counted by agent_id, any token
        assert over.status_code == 429, over.text
        assert over.json()["error"] == "rate_limited"
        wait = int(over.headers["Retry-After"])
        assert 1 <= wait <= 5
        assert http.post("/api/edits", json=edit("e-bob", "bob"), headers=bearer(BOB)).status_code == 201
        assert "e-over" not in [e["edit_id"] for e in http.get("/api/edits").json()["edits"]]

        time.sleep(wait)
        deadline = time.monotonic() + 20  # generous: the machine is shared
        while (again := http.post("/api/edits", json=edit("e-later", "ada"), headers=bearer(ADA))).status_code == 429:
            assert time.monotonic() < deadline, again.text
            time.sleep(0.5)
        assert again.status_code == 201, again.text
