import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from coedit.web.charts import bar_chart
from coedit.web.deps import MonitorDep
from coedit.web.live import Monitor
from coedit.common.client import ServiceError
from coedit.web.views import fragment, page

router = APIRouter(prefix="/analytics", tags=["analytics"])
# Hourly buckets are summed from the analytics rollup (fast at any size).
BUCKETS = {"1h": "1m", "24h": "1h", "7d": "1h"}
Window = Annotated[Literal["1h", "24h", "7d"], Query()]
SERIES = [("tokens", "Tokens"), ("edits_applied", "Edits applied"), ("active_agents", "Active agents")]


def _label(start: str, window: str) -> str:
    moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
    return moment.strftime("%H:%M" if window != "7d" else "%d %b %H:%M")


async def panel_context(monitor: Monitor, window: str) -> dict:
    context = {"window": window, "bucket": BUCKETS[window], "error": None}
    if not monitor.analytics.configured:
        return {**context, "error": "no analytics configured"}
    analytics = monitor.upstream.analytics
    try:
        summary, series, agents = await asyncio.gather(
            analytics.summary(window), analytics.timeseries(window, BUCKETS[window]), analytics.agents(window),
        )
    except ServiceError as error:
        return {**context, "error": str(error)}
    summary, agents = summary.model_dump(mode="json"), agents.model_dump(mode="json")
    buckets = series.model_dump(mode="json")["buckets"]
    charts = [
        (key, title, bar_chart([(_label(b["start"], window), b[key]) for b in buckets]))
        for key, title in SERIES
    ]
    return {**context, "summary": summary, "charts": charts, "agents": agents["agents"]}


@router.get("", response_class=HTMLResponse)
async def analytics_page(request: Request, monitor: MonitorDep, window: Window = "1h"):
    return page(request, "analytics.html", "analytics", "Analytics", "status,analytics",
                windows=list(BUCKETS), **await panel_context(monitor, window))


@router.get("/panel", response_class=HTMLResponse)
async def analytics_panel(monitor: MonitorDep, window: Window = "1h"):
    """The figures, charts and table of one window (refetched on analytics events)."""
    return fragment("fragments/analytics_panel.html", **await panel_context(monitor, window))
