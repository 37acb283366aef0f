"""People steer agent processes on a real session: a paused session gets no model
call and no edit from an agent started meanwhile; resumed, it writes."""

import time

import httpx

from tests.agent.session import (  # noqa: F401
    Session,
    converged,
    session_factory,
    text_cluster_factory,
    wait_all,
)
from tests.conftest import AUTH


def test_a_paused_session_waits_for_resume(session_factory):  # noqa: F811
    session: Session = session_factory(token_budget=50_000)
    chat = session.chat.url
    assert httpx.post(f"{chat}/api/session/pause", json={"by": "ada"}, headers=AUTH, timeout=10).json()["paused"]
    person = {"type": "person_message", "agent_id": "ada", "text": "Пусть роботы поют"}
    assert httpx.post(f"{chat}/api/messages", json=person, headers=AUTH, timeout=10).status_code == 201
    agent = session.agent("steered", "--max-edits", "1", "--start-spread", "0")
    deadline = time.monotonic() + 60  # the agent starts (and waits for its peers) first
    while time.monotonic() < deadline and "session_paused" not in session.logs("steered"):
        time.sleep(0.2)
    assert "session_paused" in session.logs("steered"), session.logs("steered")
    time.sleep(3)  # paused: nothing is asked of the model and nothing is written
    assert httpx.get(f"{session.text['a'].url}/api/budget", timeout=10).json()["spent"] == 0
    assert session.edits("a") == [] and agent.poll() is None
    assert httpx.post(f"{chat}/api/session/resume", headers=AUTH, timeout=10).json()["paused"] is False
    wait_all({"steered": agent}, session, timeout=120)
    assert "session_resumed" in session.logs("steered")
    converged(session, ["a", "b", "c"])
    assert len(session.edits("a")) == 1
