"""Reads a session's document version and token spend from its text nodes (through
the text node's client, `coedit.text_node.client`). Injected into the operator, so tests can
point it at a local server or replace it."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from coedit.text_node.client import ServiceError, TextNodeClient
from coedit_operator.spec import Session
from coedit_operator.text_node_objects import node_ids


@dataclass(frozen=True)
class TextReading:
    spent: int
    limit: int
    version: int


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
            node = TextNodeClient(self.node_url(session, node_id), http=self.http)
            try:
                budget, document = await node.budget(), await node.document()
            except (ServiceError, ValueError):  # down, refusing, or not a text node's answer
                continue
            return TextReading(spent=budget.spent, limit=budget.limit, version=document.version)
        return None

    async def close(self) -> None:
        await self.http.aclose()
