"""A client of `coedit mcp`, for coedit's own tests and benchmarks: the official MCP
SDK's ClientSession over streamable HTTP, with an outside agent's bearer token.
(Outside agents bring their own MCP client; docs/mcp.md shows how.)"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


@asynccontextmanager
async def connect(url: str, token: str) -> AsyncIterator[ClientSession]:
    """An initialised session with the MCP server at `url` (…/mcp), acting as the
    agent `token` names."""
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session
