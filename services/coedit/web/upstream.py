"""The web's clients of the session's services: one per text node (each node is
shown by itself), the chat and analytics, over one connection pool. No retries:
any failure (down, slow, an error status) is a `ServiceError`, which the pages
show as degraded instead of failing."""

import httpx
from pydantic import TypeAdapter

from coedit.analytics.client import AnalyticsClient
from coedit.chat.client import ChatClient
from coedit.common.client import ServiceClient
from coedit.text_node.client import TextNodeClient
from coedit.web.settings import WebSettings

_ANY_JSON_OBJECT = TypeAdapter(dict)


class Upstream:
    def __init__(self, settings: WebSettings):
        self.http = httpx.AsyncClient(timeout=settings.upstream_timeout)
        shared = {"http": self.http, "token": settings.auth_token}
        self.nodes = {url: TextNodeClient(url, **shared) for url in settings.text_node_urls}
        self.chat = ChatClient(settings.chat_url, **shared) if settings.chat_url else None
        self.analytics = AnalyticsClient(settings.analytics_url, **shared) if settings.analytics_url else None
        # `coedit up`'s own API (`--agents-status-url` is the full URL of its agent list)
        self.agent_status = (ServiceClient(settings.agents_status_url, http=self.http)
                             if settings.agents_status_url else None)

    async def agents_status(self) -> dict:
        return await self.agent_status.call("GET", "", _ANY_JSON_OBJECT)

    async def aclose(self) -> None:
        await self.http.aclose()
