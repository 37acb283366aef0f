"""The MCP service: the SDK's streamable HTTP app (at /mcp, stateless, so any
replica answers any request) inside coedit's service skeleton (/healthz, /readyz,
/metrics, request ids, traces, JSON errors)."""

import logging
import zlib
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI
from starlette.routing import Route

from coedit.analytics.client import AnalyticsClient
from coedit.chat.client import ChatClient
from coedit.common.agent_tokens import TokenError, load_tokens
from coedit.common.app import create_service_app, serve
from coedit.mcp.identity import AgentTokens
from coedit.mcp.session import Session
from coedit.mcp.settings import McpSettings
from coedit.mcp.tools import build_server
from coedit.text_node.client import TextNodesClient

log = structlog.get_logger("coedit.mcp")

ATTEMPTS = 2  # rounds over a service's URLs before a tool answers "unavailable": a model waits


def create_app(settings: McpSettings) -> FastAPI:
    tokens = AgentTokens(load_tokens(
        settings.mcp_tokens.get_secret_value() if settings.mcp_tokens else None, settings.mcp_tokens_file))
    if not tokens.agents:
        raise TokenError("no outside agent is configured: set COEDIT_MCP_TOKENS (\"name=token,...\") "
                         "or --mcp-tokens-file")
    http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
    shared = {"http": http, "token": settings.auth_token, "attempts": ATTEMPTS}
    session = Session(
        settings,
        # each replica starts on its own node, as agents spread over them
        TextNodesClient(settings.text_node_urls, unsure_timeout=settings.unsure_edit_timeout,
                        start=zlib.crc32(settings.host.encode() + str(settings.port).encode()), **shared),
        ChatClient(settings.chat_url, **shared),
        AnalyticsClient(settings.analytics_url, **shared),
    )
    server = build_server(session, tokens, f"http://{settings.host}:{settings.port}")
    mcp_app = server.streamable_http_app(stateless_http=True, json_response=True, host=settings.host)
    # one line per request is the service's own access log; the SDK's would repeat it
    logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        try:
            async with server.session_manager.run():
                log.info("mcp_ready", agents=tokens.agents, path="/mcp")
                yield
        finally:
            await session.close()
            await http.aclose()

    app = create_service_app("mcp", settings, lifespan=lifespan, readiness=session.ready)
    app.state.session = session
    # only /mcp goes to the SDK's app (its auth middleware, then its handler); every
    # other path stays the service's own, with JSON errors
    app.router.routes.append(Route("/mcp", mcp_app))
    return app


def run(settings: McpSettings) -> None:
    serve(create_app(settings), settings)
