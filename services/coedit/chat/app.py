"""The chat service: FastAPI over the session's Redis stream."""

import asyncio
from contextlib import asynccontextmanager, suppress

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, RedisError, TimeoutError

from coedit.chat.hub import StreamHub
from coedit.chat.routers import intents, messages, session
from coedit.chat.settings import ChatSettings
from coedit.chat.store import ChatStore
from coedit.common.app import create_service_app, serve
from coedit.common.streams import StreamSlots
from coedit.common.write_rate import AgentWriteRate

log = structlog.get_logger(__name__)


def connect(redis_url: str) -> Redis:
    """A client that fails fast while Redis is down (so callers get 503 at once)
    and reconnects by itself when it is back."""
    return Redis.from_url(
        redis_url,
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=2),
        socket_connect_timeout=2,
        socket_timeout=5,
    )


async def _redis_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("redis unavailable", error=str(exc))
    return JSONResponse({"error": "redis_unavailable", "detail": str(exc)}, status_code=503)


def _log_hub_end(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception():
        log.error("live reader stopped", exc_info=task.exception())


def create_app(settings: ChatSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        redis = connect(settings.redis_url)
        app.state.store = ChatStore(
            redis, settings.session, max_len=settings.max_len,
            intent_ttl=settings.intent_ttl, idempotency_ttl=settings.idempotency_ttl,
        )
        app.state.hub = StreamHub(app.state.store)
        app.state.hub_task = asyncio.create_task(app.state.hub.run(), name="chat-hub")
        app.state.hub_task.add_done_callback(_log_hub_end)
        try:
            yield
        finally:
            app.state.hub_task.cancel()
            with suppress(asyncio.CancelledError):
                await app.state.hub_task
            await redis.aclose()

    async def readiness() -> tuple[bool, dict]:
        try:
            async with asyncio.timeout(2):
                await app.state.store.redis.ping()
        except (RedisError, OSError, TimeoutError, asyncio.TimeoutError):
            return False, {"redis": "unavailable"}
        live = app.state.hub.started.is_set() and not app.state.hub_task.done()
        return live, {"redis": "ok", "live_reader": "ok" if live else "starting"}

    app = create_service_app("chat", settings, lifespan=lifespan, readiness=readiness, writes_need_token=True)
    for error in (ConnectionError, TimeoutError):
        app.add_exception_handler(error, _redis_unavailable)
    app.state.agent_writes = AgentWriteRate(settings.agent_writes_per_minute, settings.agent_writes_window)
    app.state.stream_slots = StreamSlots(settings.max_streams, settings.max_streams_per_client)
    app.include_router(messages.router)
    app.include_router(intents.router)
    app.include_router(session.router)
    return app


def run(settings: ChatSettings) -> None:
    serve(create_app(settings), settings)
