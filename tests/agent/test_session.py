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

from tests.conftest import AUTH, AUTH_TOKEN
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


def test_one_agent_runs_every_phase_visibly(session_factory):
    session = session_factory(token_budget=1_000_000)
    agent = session.agent("solo", "--max-edits", "1")
    wait_all({"solo": agent}, session)
    kinds = [(m["type"], m.get("status")) for m in session.messages()]
    assert kinds[0] == ("edit_intent", None)
    assert ("intent_status", "confirmed") in kinds and ("edit_operation", None) in kinds
    assert kinds[-1] == ("intent_status", "applied")
    text = converged(session, ["a", "b", "c"])
    assert text != INITIAL_TEXT
    figures = session.summary()
    assert figures["edits_applied"] == 1 and figures["llm_calls"] >= 3
    spent = httpx.get(f"{session.text['a'].url}/api/budget", timeout=10).json()["spent"]
    assert figures["tokens"] == spent > 0


def test_ten_agents_until_the_budget_ends_despite_a_dead_node_and_a_faulty_model(session_factory):
    session = session_factory(
        token_budget=40_000, model_args=["--error-rate", "0.1", "--invalid-json-rate", "0.1"])
    agents = {}
    for n in range(10):  # started back to back, well within 100 ms of each other
        agents[f"agent-{n}"] = session.agent(f"agent-{n}")
    deadline = time.monotonic() + 120
    while len(session.edits("a")) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    session.text["b"].kill()  # SIGKILL mid-run
    wait_all(agents, session)
    session.text["b"].start()  # back from its own database, it catches up
    text = converged(session, ["a", "b", "c"])

    edits = session.edits("a")
    messages = session.messages()
    operations = {m["edit_id"]: m for m in messages if m["type"] == "edit_operation"}
    intents = {m["intent_id"] for m in messages if m["type"] == "edit_intent"}
    # Every acknowledged edit (its agent posted the operation) is in the converged log...
    assert set(operations) <= {e["edit_id"] for e in edits}
    # ...and every applied edit has its intent and its operation in the chat.
    for edit in edits:
        assert edit["edit_id"] in operations and edit["intent_id"] in intents
    assert len(edits) >= 3 and text != INITIAL_TEXT
    figures = session.summary()
    spent = httpx.get(f"{session.text['a'].url}/api/budget", timeout=10).json()["spent"]
    assert figures["tokens"] == spent >= 40_000
    assert figures["edits_applied"] == len(edits)
    assert figures["active_agents"] == 10
