"""A real session for agents as processes: three text nodes (each on its own
PostgreSQL), the chat on Redis, analytics on PostgreSQL, and the fake model.
`session_factory` is a fixture: import it into the test module that uses it."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx
import pytest
from coedit.local.processes import ServiceProcess
from coedit.up.session_file import SEED_TOPIC
from tests.chat.conftest import all_messages
from tests.conftest import AUTH_ENV, AUTH_TOKEN
from tests.text_node.conftest import INITIAL_TEXT, TextCluster, text_cluster_factory  # noqa: F401

TOPIC = SEED_TOPIC


@dataclass
class Session:
    text: TextCluster
    chat: ServiceProcess
    analytics: ServiceProcess
    model: ServiceProcess
    log_dir: object
    env: dict[str, str] = field(default_factory=dict)
    model_name: str = "fake"
    agents: list[subprocess.Popen] = field(default_factory=list)  # every agent started, stopped at teardown

    def agent(self, agent_id: str, *extra: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{agent_id}.log", "ab")
        nodes = ",".join(node.url for node in self.text.nodes.values())
        process = subprocess.Popen(
            [sys.executable, "-m", "coedit", "agent", "--agent-id", agent_id, "--persona", "сюжетник",
             "--topic", TOPIC, "--text-nodes", nodes, "--chat-url", self.chat.url,
             "--analytics-url", self.analytics.url, "--llm-base-url", f"{self.model.url}/v1", "--model", self.model_name,
             "--startup-timeout", "60",
             *extra],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, 
            env={**os.environ, **AUTH_ENV, "COEDIT_LLM_API_KEY": AUTH_TOKEN, **self.env},
        )
        self.agents.append(process)
        return process

    def stop_agents(self) -> None:
        """A test that failed or timed out leaves no agent behind."""
        for process in self.agents:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)

    def logs(self, agent_id: str) -> str:
        return (self.log_dir / f"{agent_id}.log").read_text(errors="replace")[-3000:]

    def messages(self) -> list[dict]:
        return all_messages(self.chat.url)

    def summary(self) -> dict:
        return httpx.get(f"{self.analytics.url}/api/summary", params={"window": "1h"}, timeout=10).json()

    def edits(self, node: str, after: int = 0) -> list[dict]:
        """The node's log of edits after version `after`."""
        found = []
        while page := httpx.get(f"{self.text[node].url}/api/edits", params={"after_version": after, "limit": 1000}, timeout=10).json()["edits"]:
            found += page
            after = page[-1]["version"]
        return found


@pytest.fixture
def session_factory(text_cluster_factory, postgres_factory, redis_server, service_factory, tmp_path):  # noqa: F811
    def make(token_budget: int, model_args: list[str] = (), env: dict[str, str] | None = None,
             model: ServiceProcess | None = None, model_name: str = "fake",
             initial_text: str = INITIAL_TEXT, text_options: dict | None = None,
             chat_args: list[str] = ()) -> Session:
        """`model`: a started model server to use instead of the fake model;
        `text_options`: more options for `text_cluster_factory`; `chat_args`: the chat's."""
        text = text_cluster_factory(token_budget=token_budget, initial_text=initial_text, env=env,
                                    **(text_options or {}))
        chat = service_factory("chat", ["--redis-url", redis_server.url, *chat_args], env=env)
        analytics = service_factory(
            "analytics", ["--database-url", postgres_factory("analytics").url],
            env=env)
        services = [chat, analytics]
        if model is None:
            model = service_factory("fake-llm", ["--seed", "1", *model_args], env=env)
            services.append(model)
        for service in services:
            service.start(wait_ready=False)
        for service in services:
            service.wait_ready()
        sessions.append(Session(text, chat, analytics, model, tmp_path, env or {}, model_name))
        return sessions[-1]

    sessions: list[Session] = []
    yield make
    for session in sessions:
        session.stop_agents()


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
