"""Templates and the HTML fragments that both the pages and the live events use,
so a section renders the same whether the page was just loaded or updated live.
Jinja2 autoescaping is on: agent text is always shown as text."""

import zlib
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader
from starlette.templating import Jinja2Templates

from coedit.web.authorship import INITIAL, UNKNOWN

if TYPE_CHECKING:
    # The one import circle left (allowed in pyproject.toml): the monitor pushes these
    # fragments and they render its state; the type is for hints only, never imported.
    from coedit.web.live import Monitor

AGENT_COLOURS = 12
MESSAGE_KINDS = {"edit_intent": "intent", "edit_comment": "comment",
                 "edit_operation": "operation", "intent_status": "status"}


def agent_class(agent: str | None) -> str:
    """A stable colour class per agent (CSS defines `agent-0` .. `agent-11`)."""
    if agent == INITIAL:
        return "agent-initial"
    if agent == UNKNOWN or agent is None:
        return "agent-unknown"
    return f"agent-{zlib.crc32(agent.encode()) % AGENT_COLOURS}"


def author_label(agent: str) -> str:
    return {INITIAL: "initial text", UNKNOWN: "unattributed"}.get(agent, agent)


def clock(value) -> str:
    """`HH:MM:SS` (UTC) of a datetime or an ISO-8601 string."""
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.strftime("%H:%M:%S")


def number(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}".replace(",", " ")


def percent(value) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)
_env.filters.update(agent_class=agent_class, author=author_label, clock=clock, number=number,
                    percent=percent, kind=lambda t: MESSAGE_KINDS.get(t, t))
templates = Jinja2Templates(env=_env)


def render(template: str, **context) -> str:
    return _env.get_template(template).render(**context)


def status_fragments(monitor: "Monitor") -> dict[str, str]:
    return {
        "session-status": render("fragments/session_status.html", m=monitor),
        "nodes": render("fragments/nodes.html", m=monitor),
        "budget": render("fragments/budget.html", budget=monitor.budget),
        "agents": render("fragments/agents.html", agents=monitor.agents()),
    }


def document_fragments(monitor: "Monitor") -> dict[str, str]:
    return {
        "document-live": render("fragments/document_live.html", m=monitor),
        "version-count": str(monitor.version),
        "edit-log": render("fragments/edit_log.html", m=monitor, before=None),
    }


def analytics_fragments(monitor: "Monitor") -> dict[str, str]:
    return {"overview-figures": render("fragments/figures.html", m=monitor)}


def chat_message(message: dict) -> str:
    return render("fragments/chat_message.html", message=message)


def page(request: Request, template: str, name: str, title: str, topics: str, **context):
    """A full page: the layout needs the monitor (status), the session name and
    which live topics the page's EventSource asks for."""
    monitor = request.app.state.monitor
    return templates.TemplateResponse(request, template, {
        "page": name, "title": title, "topics": topics, "m": monitor,
        "session_name": request.app.state.settings.session_name, **context,
    })


def fragment(template: str, **context) -> HTMLResponse:
    return HTMLResponse(render(template, **context))
