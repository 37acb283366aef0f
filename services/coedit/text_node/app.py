"""`coedit text-node`: the FastAPI app and its life cycle."""

from contextlib import asynccontextmanager

import aiohttp
import structlog
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from coedit.common.anchors import AnchorError
from coedit.common.app import create_service_app, serve
from coedit.common.auth import auth_headers
from coedit.common.errors import ApiError
from coedit.common.retrying import log_waiting
from coedit.common.streams import StreamSlots
from coedit.common.write_rate import AgentWriteRate
from coedit.text_node.budget_service import BudgetService
from coedit.text_node.errors import (
    BudgetExhausted,
    BudgetUnavailable,
    ChangeFailed,
    DocumentError,
    DocumentSwitching,
    DocumentTooLarge,
    EditInProgress,
    EditTooLarge,
    HistoryCatchingUp,
    InvalidUpdate,
    PersonChangeRefused,
    ReservationNotFound,
    StorageUnavailable,
)
from coedit.text_node.generations import Switcher
from coedit.text_node.node import TextNode
from coedit.text_node.people import Room
from coedit.text_node.replication import Replicator
from coedit.text_node.routers import budget, document, edits, people, replication
from coedit.text_node.settings import TextNodeSettings
from coedit.text_node.store import STORAGE_ERRORS, Store

log = structlog.get_logger(__name__)


def create_app(settings: TextNodeSettings):
    state = {"ready": False}

    @asynccontextmanager
    async def lifespan(app):
        store = await _connect_with_retries(settings.database_url)
        node = TextNode(settings, store)
        await node.start()
        # aiohttp, not httpx, between nodes: about a third of the CPU per request
        client = aiohttp.ClientSession(
            headers=auth_headers(settings.auth_token), timeout=aiohttp.ClientTimeout(total=10, sock_connect=2),
            trace_configs=[create_trace_config()],
        )
        replicator = Replicator(node, settings.peer_urls, settings.sync_interval, client)
        budget_service = BudgetService(node, replicator, client)
        app.state.node, app.state.replicator, app.state.budget = node, replicator, budget_service
        app.state.people = Room(node)
        switcher = Switcher(node, replicator, settings.generation_edits, settings.sync_interval)
        await replicator.catch_up()
        replicator.start()
        budget_service.start()
        node.start_history()
        switcher.start()
        state["ready"] = True
        log.info("text node ready", node_id=settings.node_id, version=node.committed.version,
                 peers=settings.peer_urls)
        try:
            yield
        finally:
            state["ready"] = False
            await switcher.stop()
            await budget_service.stop()
            await replicator.stop()
            await node.stop()
            await client.close()
            await store.close()

    async def readiness():
        storage_ok = state["ready"] and app.state.node.storage_ok
        return storage_ok, {"node_id": settings.node_id, "storage": "ok" if storage_ok else "unavailable"}

    app = create_service_app("text-node", settings, lifespan=lifespan, readiness=readiness, writes_need_token=True,
                             reads_by_post=replication.READS_BY_POST)
    install_domain_errors(app)
    app.state.people_slots = StreamSlots(settings.max_people_connections, per_client=None)
    app.state.agent_writes = AgentWriteRate(settings.agent_writes_per_minute, settings.agent_writes_window)
    for router in (document.router, people.router, edits.router, budget.router, budget.internal,
                   replication.public, replication.internal):
        app.include_router(router)
    return app


STATUS = {
    BudgetExhausted: 429,
    BudgetUnavailable: 503,
    ReservationNotFound: 404,
    EditTooLarge: 413,
    DocumentTooLarge: 413,
    StorageUnavailable: 503,
    HistoryCatchingUp: 503,
    EditInProgress: 503,
    DocumentSwitching: 503,
    ChangeFailed: 500,
    InvalidUpdate: 422,
    PersonChangeRefused: 403,
}


def install_domain_errors(app: FastAPI) -> None:
    """The one place where the document core's refusals become HTTP answers."""

    def answer(error: ApiError) -> JSONResponse:  # the body every service answers with
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(DocumentError)
    async def _refused(_: Request, error: DocumentError):
        return answer(ApiError(STATUS.get(type(error), 400), error.code, error.detail, **error.extra))

    @app.exception_handler(AnchorError)
    async def _anchor(_: Request, error: AnchorError):
        return answer(ApiError(409, error.code, error.detail, matches=error.matches))

    async def _storage(_: Request, error: Exception):
        log.warning("the database is unreachable", error=str(error) or type(error).__name__)
        return answer(ApiError(503, "storage_unavailable", "the node's database is unreachable; retry"))

    for kind in STORAGE_ERRORS:
        app.add_exception_handler(kind, _storage)


async def _connect_with_retries(database_url: str) -> Store:
    """Wait for PostgreSQL instead of crash-looping when started first (refusing
    connections, or accepting them to say it is still starting up)."""
    async for attempt in AsyncRetrying(
        wait=wait_exponential(multiplier=0.2, max=5), stop=stop_after_delay(120),
        retry=retry_if_exception_type(STORAGE_ERRORS), reraise=True,
        before_sleep=log_waiting(log, "the database"),
    ):
        with attempt:
            return await Store.connect(database_url)


def run(settings: TextNodeSettings) -> None:
    serve(create_app(settings), settings)
