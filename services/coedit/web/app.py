"""The web UI's FastAPI app: pages, fragments, static assets and `/events`."""

import asyncio
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import structlog
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from coedit.common.app import create_service_app, serve
from coedit.common.streams import StreamSlots
from coedit.web.hub import Hub
from coedit.web.live import Monitor
from coedit.web.auth import sign_in
from coedit.web.routers import analytics, chat, document, events, overview, people, yjs
from coedit.web.settings import WebSettings
from coedit.web.upstream import Upstream

log = structlog.get_logger(__name__)

# Every asset is ours: no inline script, no CDN. Style attributes are allowed (not
# style elements): the editor colours each person's cursor with one.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "style-src-attr 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _log_monitor_end(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception():
        log.error("live view stopped", exc_info=task.exception())


def create_app(settings: WebSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        upstream = Upstream(settings)
        app.state.hub = Hub()
        app.state.monitor = Monitor(settings, upstream, app.state.hub)
        task = asyncio.create_task(app.state.monitor.run(), name="web-monitor")
        task.add_done_callback(_log_monitor_end)
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            await upstream.aclose()

    async def readiness() -> tuple[bool, dict]:
        """Ready once the first look at the text nodes is done (whatever it found:
        the UI shows a session that is down as down)."""
        monitor: Monitor = app.state.monitor
        return monitor.started.is_set(), {
            "text_nodes_up": sum(1 for n in monitor.nodes if n.up),
            "chat": monitor.chat.up, "analytics": monitor.analytics.up,
            "version": monitor.version,
        }

    app = create_service_app("web", settings, lifespan=lifespan, readiness=readiness)

    @app.middleware("http")
    async def _security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    app.state.stream_slots = StreamSlots(settings.max_streams, settings.max_streams_per_client)
    app.middleware("http")(sign_in)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for module in (overview, document, chat, analytics, events, people, yjs):
        app.include_router(module.router)
    return app


def run(settings: WebSettings) -> None:
    serve(create_app(settings), settings)
