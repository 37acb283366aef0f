from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from coedit.web.views import page

router = APIRouter(tags=["overview"])


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request):
    """Session status, the text nodes, the budget and the agents: all from the
    live state, no upstream call."""
    return page(request, "overview.html", "overview", "Overview", "status,analytics")
