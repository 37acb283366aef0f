"""A real session with `coedit mcp` in front of it, and outside agents that reach it
with the official MCP SDK's client over streamable HTTP."""

import json
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from mcp import ClientSession

from coedit.local.processes import ServiceProcess
from coedit.mcp.client import connect
from tests.agent.session import Session, session_factory, text_cluster_factory  # noqa: F401
from tests.conftest import AUTH_TOKEN

TOKENS = {"claude": "claude-token-0123456789", "cursor": "cursor-token-0123456789"}


@dataclass
class McpSession:
    session: Session
    mcp: ServiceProcess

    @property
    def url(self) -> str:
        return f"{self.mcp.url}/mcp"

    @asynccontextmanager
    async def agent(self, name: str):
        """An initialised MCP client session acting as `name` (its token)."""
        async with connect(self.url, TOKENS[name]) as client:
            yield client


async def call(client: ClientSession, tool: str, **arguments) -> dict:
    """A tool's structured answer; a tool error fails the test with its text."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def refused(client: ClientSession, tool: str, **arguments) -> str:
    """The text of a tool error (the call must be refused)."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text


def mcp_process(session: Session, service_factory, *extra: str, env=None,
                text_urls: list[str] | None = None) -> ServiceProcess:
    """`text_urls`: the text nodes' URLs the server uses (the nodes' own by default)."""
    nodes = ",".join(text_urls or [node.url for node in session.text.nodes.values()])
    return service_factory(
        "mcp", ["--text-nodes", nodes, "--chat-url", session.chat.url, "--analytics-url",
                session.analytics.url, *extra],
        env={"COEDIT_MCP_TOKENS": ",".join(f"{n}={t}" for n, t in TOKENS.items()), **(env or {})},
    ).start()


@pytest.fixture
def mcp_session_factory(session_factory, service_factory):  # noqa: F811
    def make(token_budget: int = 1_000_000, *extra: str, env: dict[str, str] | None = None,
             text_options: dict | None = None, text_urls=None) -> McpSession:
        """`text_options`: the text cluster's (see `session_factory`); `text_urls(session)`:
        the text nodes' URLs the MCP server uses."""
        session = session_factory(token_budget=token_budget, env=env, text_options=text_options)
        urls = text_urls(session) if text_urls else None
        return McpSession(session, mcp_process(session, service_factory, *extra, env=env, text_urls=urls))

    return make


def agent_events(session: Session, agent_id: str) -> dict:
    figures = httpx.get(f"{session.analytics.url}/api/agents", params={"window": "1h"}, timeout=10).json()
    return next((a for a in figures["agents"] if a["agent_id"] == agent_id), {})


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
