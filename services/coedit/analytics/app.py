"""The analytics service's FastAPI app."""

import asyncio
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY

from coedit.analytics.db import UNAVAILABLE, Database
from coedit.analytics.metrics import SummaryCollector
from coedit.analytics.routers import events, reports
from coedit.analytics.settings import AnalyticsSettings
from coedit.common.app import create_service_app, serve


def create_app(settings: AnalyticsSettings) -> FastAPI:
    db = Database(settings.database_url, settings.pool_size)
    collector = SummaryCollector(settings.metrics_cache_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        opening = asyncio.create_task(db.open())
        REGISTRY.register(collector)
        try:
            yield
        finally:
            REGISTRY.unregister(collector)
            opening.cancel()
            with suppress(asyncio.CancelledError):
                await opening
            await db.close()

    app = create_service_app("analytics", settings, lifespan=lifespan, readiness=db.readiness, writes_need_token=True)
    app.state.db = db
    app.include_router(events.router)
    app.include_router(reports.router)

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"error": "database_unavailable", "detail": repr(exc)}, status_code=503
        )

    for exc_type in UNAVAILABLE:
        app.add_exception_handler(exc_type, unavailable)

    @app.middleware("http")
    async def _fresh_metrics(request: Request, call_next):
        if request.url.path == "/metrics" and db.pool is not None:
            await collector.refresh(db.pool)
        return await call_next(request)

    return app


def run(settings: AnalyticsSettings) -> None:
    serve(create_app(settings), settings)
