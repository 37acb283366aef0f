"""A three-node text cluster, each node a real process on its own PostgreSQL."""

from dataclasses import dataclass

import httpx
import pytest

from coedit.local.servers import PostgresServer, free_port
from tests.conftest import AUTH, AUTH_ENV
from tests.text_node.proxy import Links
from coedit.local.processes import ServiceProcess
from coedit.text_node.node import TextNode
from coedit.text_node.settings import TextNodeSettings
from coedit.text_node.store import Store

INITIAL_TEXT = "Документ начинается здесь. Роботы-няни читали детям сказки про космос."


@dataclass
class TextCluster:
    nodes: dict[str, ServiceProcess]
    databases: dict[str, PostgresServer]

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.nodes[name]

    def document(self, name: str) -> dict:
        return httpx.get(f"{self[name].url}/api/document", timeout=10).json()

    def edit(self, name: str, edit_id: str, op: dict, **extra) -> httpx.Response:
        body = {"edit_id": edit_id, "agent_id": "tester", "op": op, **extra}
        return httpx.post(f"{self[name].url}/api/edits", json=body, headers=AUTH, timeout=30)

    def texts(self) -> dict[str, tuple[str, int]]:
        return {name: (d["text"], d["version"]) for name in self.nodes for d in [self.document(name)]}


@pytest.fixture
def text_cluster_factory(postgres_factory, tmp_path):
    """Call with options (e.g. token_budget=...) to start nodes a, b, c, all peers.
    Every node started is stopped at teardown, whatever the test did."""
    started: list[ServiceProcess] = []

    def make(token_budget: int = 1_000_000, initial_text: str = INITIAL_TEXT, sync_interval: float = 0.3,
             env: dict[str, str] | None = None, extra_args: tuple[str, ...] = (),
             peer_url=lambda node, peer, port: f"http://127.0.0.1:{port}", node_env: dict | None = None):
        """`peer_url(node, peer, port)`: the URL `node` uses for `peer` (say, a proxy's);
        `node_env`: more environment for some nodes, by name."""
        names = ["a", "b", "c"]
        ports = {name: free_port() for name in names}
        nodes, databases = {}, {}
        for name in names:
            database = databases[name] = postgres_factory(f"pg-{name}")
            peers = ",".join(peer_url(name, p, ports[p]) for p in names if p != name)
            nodes[name] = ServiceProcess(
                "text-node",
                ["--node-id", name, "--database-url", database.url, "--peers", peers,
                 "--token-budget", str(token_budget),
                 "--initial-text", initial_text, "--sync-interval", str(sync_interval), *extra_args],
                tmp_path, name=f"text-{name}", port=ports[name],
                env={**AUTH_ENV, **(env or {}), **(node_env or {}).get(name, {})},
            )
        started.extend(nodes.values())
        for node in nodes.values():
            node.start(wait_ready=False)
        for node in nodes.values():
            node.wait_ready()
        return TextCluster(nodes, databases)

    yield make
    for node in started:
        node.stop()


@pytest.fixture
def links() -> Links:
    """Proxies between the nodes that the test cuts and heals (`text_cluster_factory(peer_url=links.url)`)."""
    proxies = Links()
    yield proxies
    proxies.close()


@pytest.fixture
def text_cluster(text_cluster_factory) -> TextCluster:
    return text_cluster_factory()


@pytest.fixture
async def start_node(postgres):
    """Start a text node in this process on `postgres` (call it again for a restart on
    the same database); every node started is stopped at teardown."""
    store = await Store.connect(postgres.url)
    nodes: list[TextNode] = []

    async def start(initial_text: str, **settings) -> TextNode:
        node = TextNode(TextNodeSettings(node_id="r", initial_text=initial_text, insecure_no_auth=True, **settings), store)
        await node.start()
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        await node.stop()
    await store.close()
