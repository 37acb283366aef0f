import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from coedit.web.deps import MonitorDep
from coedit.common.diff import diff_stats, word_diff
from coedit.web.live import Monitor
from coedit.common.client import ServiceError
from coedit.web.views import fragment, page

router = APIRouter(prefix="/document", tags=["document"])
Version = Annotated[int | None, Query(ge=0)]
EDITS_SHOWN = 100  # edits listed under one diff


async def version_context(monitor: Monitor, version: int) -> dict:
    try:
        text, error = await monitor.version_text(version), None
    except ServiceError as failure:
        text, error = None, str(failure)
    return {"version": version, "text": text, "version_error": error, "edit": monitor.edit(version)}


async def diff_context(monitor: Monitor, low: int, high: int) -> dict:
    """Only the two requested versions are fetched; the word diff runs in a
    thread so a large one does not stall the live streams."""
    context = {"low": low, "high": high, "segments": None, "diff_error": None, "edits": [], "more": 0}
    try:
        old, new = await asyncio.gather(monitor.version_text(low), monitor.version_text(high))
    except ServiceError as failure:
        return {**context, "diff_error": str(failure)}
    segments = await asyncio.to_thread(word_diff, old, new)
    first, last = sorted((low, high))
    edits = monitor.edits_between(first, last, EDITS_SHOWN)
    return {**context, "segments": segments, "stats": diff_stats(segments), "edits": edits,
            "more": max(last - first - len(edits), 0)}


def _pair(monitor: Monitor, low: int | None, high: int | None) -> tuple[int, int]:
    """Default: the latest edit (previous version -> current)."""
    high = monitor.version if high is None else high
    return (max(high - 1, 0) if low is None else low), high


@router.get("", response_class=HTMLResponse)
async def document_page(
    request: Request, monitor: MonitorDep, v: Version = None,
    low: Annotated[int | None, Query(alias="from", ge=0)] = None, to: Version = None,
    log_before: Annotated[int | None, Query(ge=1)] = None,
):
    version = monitor.version if v is None else v
    low, high = _pair(monitor, low, to)
    version_ctx, diff_ctx = await asyncio.gather(
        version_context(monitor, version), diff_context(monitor, low, high))
    return page(request, "document.html", "document", "Document", "status,document",
                log_before=log_before, **diff_ctx, **version_ctx)


@router.get("/version", response_class=HTMLResponse)
async def version_fragment(monitor: MonitorDep, v: Annotated[int, Query(ge=0)]):
    """The text of one version and the edit that made it (for the slider)."""
    return fragment("fragments/version_view.html", **await version_context(monitor, v))


@router.get("/diff", response_class=HTMLResponse)
async def diff_fragment(
    monitor: MonitorDep, low: Annotated[int | None, Query(alias="from", ge=0)] = None,
    to: Version = None,
):
    return fragment("fragments/diff_view.html", **await diff_context(monitor, *_pair(monitor, low, to)))
