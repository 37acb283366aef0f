"""One whole session for the web tests, started once: three text nodes (each on
its own PostgreSQL), the chat on Redis, analytics on PostgreSQL, and `coedit web`
over them — all real processes. Tests write through the services' own APIs."""

import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from coedit.local.processes import ServiceProcess
from coedit.local.servers import PostgresServer, RedisServer, free_port
from tests.conftest import AUTH, AUTH_ENV, AUTH_TOKEN
from tests.text_node.conftest import INITIAL_TEXT, TextCluster


@dataclass
class Session:
    cluster: TextCluster
    chat: ServiceProcess
    analytics: ServiceProcess
    web: ServiceProcess

    @property
    def url(self) -> str:
        return self.web.url

    def edit(self, edit_id: str, agent: str, op: dict, node: str = "a", **extra) -> dict:
        response = httpx.post(
            f"{self.cluster[node].url}/api/edits",
            json={"edit_id": edit_id, "agent_id": agent, "op": op, **extra}, headers=AUTH, timeout=30)
        assert response.status_code == 201, response.text
        return response.json()

    def say(self, message: dict) -> dict:
        response = httpx.post(f"{self.chat.url}/api/messages", json=message, headers=AUTH, timeout=30)
        assert response.status_code == 201, response.text
        return response.json()

    def report(self, *events: dict) -> None:
        now = datetime.now(UTC).isoformat()
        response = httpx.post(f"{self.analytics.url}/api/events",
                              json=[{"ts": now, **e} for e in events], headers=AUTH, timeout=30)
        assert response.status_code == 200, response.text

    def get(self, path: str, **params) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=30)


@pytest.fixture(scope="package")
def session() -> Iterator[Session]:
    with started_session() as started:
        yield started


@contextmanager
def started_session(node_args: tuple[str, ...] = ()) -> Iterator[Session]:
    """The whole session; `node_args`: more flags for every text node."""
    # Not under pytest's basetemp: a parallel pytest run re-locks that to 0700,
    # which the unprivileged PostgreSQL user must be able to traverse.
    tmp = Path(tempfile.mkdtemp(prefix="coedit-web-"))
    servers: list = []
    processes: list[ServiceProcess] = []
    try:
        # Servers in parallel (initdb is the slow part), then every service at once.
        with ThreadPoolExecutor() as pool:
            databases = list(pool.map(
                lambda name: PostgresServer(tmp / f"pg-{name}", fsync=False).start(timeout=120),
                ["a", "b", "c", "analytics"]))
        redis = RedisServer(tmp / "redis").start()
        servers += [*databases, redis]
        ports = {name: free_port() for name in "abc"}
        nodes = {
            name: ServiceProcess(
                "text-node",
                ["--node-id", name, "--database-url", database.url,
                 "--peers", ",".join(f"http://127.0.0.1:{ports[p]}" for p in "abc" if p != name),
                 "--initial-text", INITIAL_TEXT, "--sync-interval", "0.3", *node_args],
                tmp, name=f"text-{name}", port=ports[name], env=AUTH_ENV)
            for name, database in zip("abc", databases)
        }
        chat = ServiceProcess("chat", ["--redis-url", redis.url], tmp, env=AUTH_ENV)
        analytics = ServiceProcess(
            "analytics", ["--database-url", databases[3].url], tmp, env=AUTH_ENV)
        web = ServiceProcess("web", [
            "--text-nodes", ",".join(node.url for node in nodes.values()),
            "--chat-url", chat.url, "--analytics-url", analytics.url,
            "--session-name", "robots-story", "--poll-interval", "0.2",
            "--analytics-interval", "0.5"], tmp, env=AUTH_ENV)
        processes += [*nodes.values(), chat, analytics, web]
        for process in processes:
            process.start(wait_ready=False)
        for process in processes:
            process.wait_ready(180)
        # The web is ready once it has looked at the nodes; wait until it saw them up.
        deadline = time.monotonic() + 60
        while httpx.get(f"{web.url}/readyz", timeout=10).json()["text_nodes_up"] < 3:
            assert time.monotonic() < deadline, web.logs()
            time.sleep(0.1)
        cluster = TextCluster(nodes, dict(zip("abc", databases)))
        yield Session(cluster, chat, analytics, web)
    finally:
        for process in reversed(processes):
            process.stop()
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
