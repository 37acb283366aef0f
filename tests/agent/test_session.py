"""Agents as processes on a real session: three text nodes (each on its own
PostgreSQL), the chat on Redis, analytics on PostgreSQL, and the fake model."""

import time

import httpx

from tests.agent.session import (  # noqa: F401
    INITIAL_TEXT,
    Session,
    converged,
    session_factory,
    text_cluster_factory,
    wait_all,
)


def test_one_agent_then_ten_until_the_budget_ends_despite_a_dead_node_and_a_faulty_model(session_factory):  # noqa: F811
    """One session (its start-up is most of the cost): first one agent makes one edit
    with every phase visible; then ten agents, started together, run until the budget
    ends while a text node is killed and restarted and the model injects faults."""
    session = session_factory(
        token_budget=40_000, model_args=["--error-rate", "0.1", "--invalid-json-rate", "0.1"])
    wait_all({"solo": session.agent("solo", "--max-edits", "1", "--start-spread", "0")}, session)
    kinds = [(m["type"], m.get("status")) for m in session.messages()]
    assert kinds[0] == ("edit_intent", None)
    assert ("intent_status", "confirmed") in kinds and ("edit_operation", None) in kinds
    assert kinds[-1] == ("intent_status", "applied")
    assert converged(session, ["a", "b", "c"]) != INITIAL_TEXT
    figures = session.summary()
    assert figures["edits_applied"] == 1 and figures["llm_calls"] >= 3

    agents = {}
    for n in range(10):  # started back to back, well within 100 ms of each other
        agents[f"agent-{n}"] = session.agent(f"agent-{n}", "--unsure-edit-timeout", "60")
    wait_for_edits(session, 3)
    session.text["b"].kill()  # SIGKILL mid-run: the agents on b move on (or wait for it)
    wait_for_edits(session, 6)
    session.text["b"].start()  # back from its own database, it catches up
    wait_all(agents, session)
    text = converged(session, ["a", "b", "c"])

    edits = session.edits("a")
    messages = session.messages()
    operations = {m["edit_id"]: m for m in messages if m["type"] == "edit_operation"}
    intents = {m["intent_id"] for m in messages if m["type"] == "edit_intent"}
    unknown = {m["ref"] for m in messages if m["type"] == "edit_comment" and "outcome unknown" in m["text"]}
    # Every acknowledged edit (its agent posted the operation) is in the converged log...
    assert set(operations) <= {e["edit_id"] for e in edits}
    # ...and every applied edit has its intent and its operation in the chat (or, for
    # an edit whose node died before answering, a comment saying the outcome is unknown).
    for edit in edits:
        assert edit["intent_id"] in intents
        assert edit["edit_id"] in operations or edit["intent_id"] in unknown
    assert len(edits) >= 7 and text != INITIAL_TEXT
    figures = session.summary()
    spent = httpx.get(f"{session.text['a'].url}/api/budget", timeout=10).json()["spent"]
    assert figures["tokens"] == spent <= 40_000  # reserved before every call: never past the limit
    assert figures["edits_applied"] == len(operations)
    assert figures["active_agents"] == 11


def wait_for_edits(session: Session, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(session.edits("a")) < count:
        assert time.monotonic() < deadline, "the agents made no progress"
        time.sleep(0.2)
