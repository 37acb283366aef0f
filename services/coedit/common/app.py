"""The skeleton every coedit HTTP service is built on."""

import asyncio
import functools
import time
from contextlib import suppress
from collections.abc import Awaitable, Callable

import structlog
import uvicorn
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from starlette.exceptions import HTTPException
from starlette.responses import Response

from coedit.common.auth import UNAUTHORIZED, caller_for
from coedit.common.errors import error_responses, install_error_handlers
from coedit.common.logging import configure_logging
from coedit.common.settings import ServiceSettings
from coedit.common.tracing import CallerTraceContext, init_tracing, sdk_disabled, spans_recorded, telemetry_config

HTTP_LATENCY = Histogram(
    "coedit_http_request_duration_seconds",
    "HTTP request latency by route and status",
    ["method", "route", "status"],
)
# labels() takes a lock and stringifies its values on every call; the children are few
_latency_child = functools.lru_cache(maxsize=1024)(HTTP_LATENCY.labels)

_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})  # polled constantly: no log line, no span
access_log = structlog.get_logger("coedit.access")

Readiness = Callable[[], Awaitable[tuple[bool, dict]]]


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; FastAPI passes an HTTPException on as it is."""

    def __init__(self, limit: int):
        super().__init__(413, f"body over {limit} bytes", headers={"Connection": "close"})


READS = frozenset({"GET", "HEAD", "OPTIONS"})
# After a 413 the rest of the body is read and dropped (up to this much, for this
# long) before answering: a client that sends all of its body before it reads gets
# the 413, not a connection reset. Nothing of it is kept.
DRAIN_BYTES = 16 << 20
DRAIN_SECONDS = 10.0
UNAUTHORIZED_DRAIN_BYTES = 64 << 10  # a write without a token: no more than this is read


async def _drain(receive, bound: int) -> None:
    """Read and drop the request's body until its end, `bound` bytes, or the time
    allowed; whichever comes first (the connection is closed after the answer)."""
    dropped = 0
    with suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while dropped <= bound:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body"):
                    return
                dropped += len(message.get("body", b""))


class RequestLimitsAndMetrics:
    """Pure ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware on every
    request): refuses bodies over the limit (by their Content-Length, and while
    streaming, chunked ones included: no more than the limit is ever kept; the rest
    is drained, up to DRAIN_BYTES, so that simple clients read the 413), refuses
    a write without the session's or an agent's token before reading its body (when
    `writers`, a service's settings, is set: every write of the service needs one;
    routes check which), times each
    request for Prometheus and writes one access-log line."""

    def __init__(self, app, max_body_bytes: int, writers: ServiceSettings | None = None,
                 reads_by_post: frozenset[str] = frozenset()):
        self.app, self.max_body_bytes, self.writers = app, max_body_bytes, writers
        self.reads_by_post = reads_by_post

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body_bytes:
            if int(length) <= DRAIN_BYTES:
                await _drain(receive, DRAIN_BYTES)
            return await self._too_large(scope, receive, send)
        if self.writers is not None and scope["method"] not in READS and caller_for(
            headers.get(b"authorization", b"").decode("latin-1"), self.writers
        ) is None:
            # nothing of the body is read beyond a small one's end (so its sender reads
            # the 401, not a reset); the connection then closes on the rest
            await _drain(receive, UNAUTHORIZED_DRAIN_BYTES)
            response = JSONResponse({"error": "unauthorized", "detail": UNAUTHORIZED}, status_code=401,
                                    headers={"Connection": "close"})
            return await response(scope, receive, send)
        started, status, received = time.perf_counter(), [500], [0]

        async def send_and_note_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        async def receive_within_limit():
            message = await receive()
            if message["type"] == "http.request":
                received[0] += len(message.get("body", b""))
                if received[0] > self.max_body_bytes:
                    if message.get("more_body"):
                        await _drain(receive, DRAIN_BYTES)
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        try:
            await self.app(scope, receive_within_limit, send_and_note_status)
        except BodyTooLarge:
            if status[0] != 500:  # the answer had begun: nothing more can be said
                raise
            status[0] = 413
            await self._too_large(scope, receive, send)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            _latency_child(scope["method"], route, status[0]).observe(seconds)
            if route not in _PROBES:
                # routine reads (a UI polling, a peer pulling) at debug: a day of them at
                # info was most of a session's logs; writes and errors stay at info
                routine = (scope["method"] in READS or route in self.reads_by_post) and status[0] < 400
                (access_log.debug if routine else access_log.info)(
                    "request", method=scope["method"], path=scope["path"], status=status[0],
                    ms=round(seconds * 1000, 1))

    async def _too_large(self, scope, receive, send) -> None:
        response = JSONResponse(
            {"error": "payload_too_large", "detail": f"body over {self.max_body_bytes} bytes"}, status_code=413,
            headers={"Connection": "close"},  # what was not drained is never read
        )
        await response(scope, receive, send)


def create_service_app(
    service: str,
    settings: ServiceSettings,
    *,
    lifespan=None,
    readiness: Readiness | None = None,
    max_body_bytes: int = 1 << 20,
    writes_need_token: bool = False,
    reads_by_post: frozenset[str] = frozenset(),
) -> FastAPI:
    """A FastAPI app with JSON errors, request ids, tracing, `/metrics`,
    `/healthz` (the process is alive) and `/readyz` (`readiness()` says so).
    `reads_by_post`: routes that only read but take a body (logged as reads)."""
    configure_logging(service, settings.log_level)
    init_tracing(f"coedit-{service}")
    # every route documents 422 with the services' own error body (not FastAPI's default)
    app = FastAPI(title=f"coedit {service}", lifespan=lifespan, telemetry=telemetry_config(_PROBES),
                  responses=error_responses(422))
    app.state.settings = settings
    install_error_handlers(app)

    app.add_middleware(RequestLimitsAndMetrics, max_body_bytes=max_body_bytes,
                       writers=settings if writes_need_token and settings.auth_token is not None else None,
                       reads_by_post=reads_by_post)
    if not (spans_recorded() or sdk_disabled()):
        app.add_middleware(CallerTraceContext)
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")

    @app.get("/healthz", include_in_schema=False)
    async def healthz():
        return {"status": "ok", "service": service}

    @app.get("/readyz", include_in_schema=False)
    async def readyz():
        ready, checks = (True, {}) if readiness is None else await readiness()
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics():
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run the app under uvicorn with our logging (uvicorn's own config disabled)."""
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=5,
    )
