"""`coedit status`: each component with its URL and health, the document's
version and the budget, for a running or a stopped local session."""

import asyncio
from pathlib import Path

import httpx

from coedit.text_node.client import TextNodeClient
from coedit.text_node.models import Budget, Document
from coedit.up.session import text_node
from coedit.up.session_file import load_session
from coedit.up.state import ComponentState, group_alive, is_running, load_state


def healthy(component: ComponentState, running: bool) -> bool:
    """A service is healthy when its /readyz says so; an agent while its process lives."""
    if not running:
        return False
    if component.url:
        try:
            return httpx.get(f"{component.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    return component.pid is not None and group_alive(component.pid)


def collect(data_dir: Path) -> dict:
    running = is_running(data_dir)
    state = load_state(data_dir)
    components = [c for c in (state.components if state else []) if c.kind != "server"]
    with text_node(data_dir) as url:
        document, budget = asyncio.run(document_and_budget(url))
    return {
        "session": load_session(data_dir).session_name,
        "running": running,
        "web_url": state.web_url if state else None,
        "components": [
            {"name": c.name, "url": c.url, "healthy": healthy(c, running), "kind": c.kind,
             "pid": c.pid if running else None, "exit_code": c.exit_code, "restarts": c.restarts}
            for c in components
        ],
        "document_version": document.version,
        "budget": {"limit": budget.limit, "spent": budget.spent},
    }


async def document_and_budget(url: str) -> tuple[Document, Budget]:
    async with TextNodeClient(url, timeout=10) as node:
        return await asyncio.gather(node.document(), node.budget())


def render(report: dict) -> str:
    lines = [f"session {report['session']}: {'running' if report['running'] else 'stopped'}"
             + (f", open {report['web_url']}" if report["running"] and report["web_url"] else "")]
    width = max([len(c["name"]) for c in report["components"]] + [4])
    for c in report["components"]:
        if c["healthy"]:
            health = "healthy" if c["url"] else f"running (pid {c['pid']})"
        elif c["kind"] == "agent" and c["exit_code"] == 0:
            health = "finished"
        else:
            health = "down" if report["running"] else "stopped"
        lines.append(f"  {c['name']:<{width}}  {c['url'] or '-':<24}  {health}")
    budget = report["budget"]
    share = f" ({100 * budget['spent'] / budget['limit']:.0f} %)" if budget["limit"] else ""
    lines.append(f"document version {report['document_version']}")
    lines.append(f"budget {budget['spent']:,} / {budget['limit']:,} tokens{share}")
    return "\n".join(lines)
