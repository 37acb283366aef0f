"""Reads a session's document version and token spend from its text nodes
(`GET /api/budget`, `GET /api/document`). Injected into the operator, so tests can
point it at a local server or replace it."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from coedit_operator.spec import Session
from coedit_operator.text_node_objects import node_ids


@dataclass(frozen=True)
class TextReading:
    spent: int
    limit: int
    version: int
    exhausted: bool = False  # the nodes refused a request the whole budget could not cover


TextReader = Callable[[Session], Awaitable[TextReading | None]]


class HttpTextReader:
    """Asks the nodes in order; the first that answers both calls wins (nodes converge,
    so any node's view is the session's view, give or take replication lag)."""

    def __init__(self, url_template: str, timeout: float = 5.0, client: httpx.AsyncClient | None = None):
        self.url_template = url_template
        self.http = client or httpx.AsyncClient(timeout=timeout)

    def node_url(self, session: Session, node_id: str) -> str:
        return self.url_template.format(name=session.name, namespace=session.namespace, node=node_id).rstrip("/")

    async def __call__(self, session: Session) -> TextReading | None:
        for node_id in node_ids(session):
            base = self.node_url(session, node_id)
            try:
                budget = (await self.http.get(f"{base}/api/budget")).raise_for_status().json()
                document = (await self.http.get(f"{base}/api/document")).raise_for_status().json()
                return TextReading(spent=int(budget["spent"]), limit=int(budget["limit"]), version=int(document["version"]),
                                   exhausted=bool(budget.get("exhausted", False)))
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                continue
        return None

    async def close(self) -> None:
        await self.http.aclose()
