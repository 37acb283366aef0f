"""Agents as processes on a real session: three text nodes (each on its own
PostgreSQL), the chat on Redis, analytics on PostgreSQL, and the fake model."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import AUTH_TOKEN
from coedit.local.processes import ServiceProcess
from tests.text_node.conftest import INITIAL_TEXT, TextCluster, text_cluster_factory  # noqa: F401

TOPIC = "научно-фантастический детский рассказ про роботов, которые хотят стать людьми с моралью"


@dataclass
class Session:
    text: TextCluster
    chat: ServiceProcess
    analytics: ServiceProcess
    model: ServiceProcess
    log_dir: object

    def agent(self, agent_id: str, *extra: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{agent_id}.log", "ab")
        nodes = ",".join(node.url for node in self.text.nodes.values())
        return subprocess.Popen(
            [sys.executable, "-m", "coedit", "agent", "--agent-id", agent_id, "--persona", "сюжетник",
             "--topic", TOPIC, "--text-nodes", nodes, "--chat-url", self.chat.url,
             "--analytics-url", self.analytics.url, "--auth-token", AUTH_TOKEN,
             "--llm-base-url", f"{self.model.url}/v1", "--model", "fake", "--startup-timeout", "60",
             *extra],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def logs(self, agent_id: str) -> str:
        return (self.log_dir / f"{agent_id}.log").read_text(errors="replace")[-3000:]

    def messages(self) -> list[dict]:
        found, after = [], None
        while True:
            params = {"limit": 1000, **({"after": after} if after else {})}
            page = httpx.get(f"{self.chat.url}/api/messages", params=params, timeout=10).json()["messages"]
            if not page:
                return found
            found += page
            after = page[-1]["id"]

    def summary(self) -> dict:
        return httpx.get(f"{self.analytics.url}/api/summary", params={"window": "1h"}, timeout=10).json()

    def edits(self, node: str) -> list[dict]:
        found, after = [], 0
        while page := httpx.get(f"{self.text[node].url}/api/edits", params={"after_version": after, "limit": 1000}, timeout=10).json()["edits"]:
            found += page
            after = page[-1]["version"]
        return found


@pytest.fixture
def session_factory(text_cluster_factory, postgres_factory, redis_server, service_factory, tmp_path):  # noqa: F811
    def make(token_budget: int, model_args: list[str] = ()) -> Session:
        text = text_cluster_factory(token_budget=token_budget, initial_text=INITIAL_TEXT)
        chat = service_factory("chat", ["--redis-url", redis_server.url, "--auth-token", AUTH_TOKEN])
        analytics = service_factory(
            "analytics", ["--database-url", postgres_factory("analytics").url, "--auth-token", AUTH_TOKEN])
        model = service_factory("fake-llm", ["--seed", "1", *model_args])
        for service in (chat, analytics, model):
            service.start(wait_ready=False)
        for service in (chat, analytics, model):
            service.wait_ready()
        return Session(text, chat, analytics, model, tmp_path)

    return make


def wait_all(agents: dict[str, subprocess.Popen], session: Session, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    for agent_id, process in agents.items():
        try:
            assert process.wait(max(1, deadline - time.monotonic())) == 0, session.logs(agent_id)
        except subprocess.TimeoutExpired:
            for p in agents.values():
                os.killpg(p.pid, signal.SIGKILL)
            pytest.fail(f"{agent_id} still running:\n{session.logs(agent_id)}")


def converged(session: Session, names: list[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        texts = {n: session.text.document(n)["text"] for n in names}
        budgets = {httpx.get(f"{session.text[n].url}/api/budget", timeout=10).json()["spent"] for n in names}
        if len(set(texts.values())) == 1 and len(budgets) == 1:
            return texts[names[0]]
        time.sleep(0.3)
    pytest.fail(f"nodes did not converge: {texts} {budgets}")


def test_one_agent_then_ten_until_the_budget_ends_despite_a_dead_node_and_a_faulty_model(session_factory):
    """One session (its start-up is most of the cost): first one agent makes one edit
    with every phase visible; then ten agents, started together, run until the budget
    ends while a text node is killed and restarted and the model injects faults."""
    session = session_factory(
        token_budget=25_000, model_args=["--error-rate", "0.1", "--invalid-json-rate", "0.1"])
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
    assert figures["tokens"] == spent >= 25_000  # the overspend included
    assert figures["edits_applied"] == len(operations)
    assert figures["active_agents"] == 11


def wait_for_edits(session: Session, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(session.edits("a")) < count:
        assert time.monotonic() < deadline, "the agents made no progress"
        time.sleep(0.2)
