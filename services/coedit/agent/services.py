"""The agent's HTTP peers: the text nodes (with failover), the chat and analytics.
Transient failures (network errors, 5xx) back off like model calls do."""

import structlog
import httpx
from pydantic import TypeAdapter

from coedit.agent.llm import retrying
from coedit.analytics.models import Event
from coedit.chat.models import ChatMessage, OpenIntent

log = structlog.get_logger("coedit.agent")

_OPEN_INTENTS = TypeAdapter(list[OpenIntent])
_EVENTS = TypeAdapter(list[Event])


class BudgetExhausted(Exception):
    """The text service answered 429 `budget_exhausted`: the session is over."""


class Unavailable(Exception):
    """No node of a service answered (network error or 5xx), even after backing off."""


class EditRefused(Exception):
    """A text node refused an edit (409 anchor_not_found / anchor_ambiguous, other 4xx)."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.status_code))
    except ValueError:
        return str(response.status_code)


def _check_budget(response: httpx.Response) -> httpx.Response:
    if response.status_code == 429 and _error_code(response) == "budget_exhausted":
        raise BudgetExhausted(response.text)
    return response


class Service:
    """One or more interchangeable base URLs: a request goes to the current one and
    moves on to the next when it fails; a round where all fail backs off."""

    def __init__(self, http: httpx.AsyncClient, urls: list[str], start: int = 0,
                 sleep=None, attempts: int = 6):
        self.http, self.urls = http, urls
        self.current = start % len(urls)
        self.sleep, self.attempts = sleep, attempts

    async def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        async for attempt in retrying(self.sleep, self.attempts, (Unavailable,)):
            with attempt:
                return await self._round(method, path, **kwargs)

    async def _round(self, method: str, path: str, **kwargs) -> httpx.Response:
        errors = []
        for _ in self.urls:
            url = self.urls[self.current]
            try:
                response = await self.http.request(method, url + path, **kwargs)
            except httpx.TransportError as exc:
                errors.append(f"{url}: {type(exc).__name__}")
            else:
                if response.status_code < 500:
                    return response
                errors.append(f"{url}: {response.status_code}")
            self.current = (self.current + 1) % len(self.urls)
            log.warning("service_failover", failed=url, next=self.urls[self.current])
        raise Unavailable("; ".join(errors))

    async def ready(self) -> bool:
        """Whether any URL answers /readyz with 200 (no backoff: the caller retries)."""
        for url in self.urls:
            try:
                if (await self.http.get(url + "/readyz")).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
        return False


class TextNodes(Service):
    async def document(self) -> dict:
        response = await self.request("GET", "/api/document")
        response.raise_for_status()
        return response.json()

    async def budget(self) -> dict:
        response = await self.request("GET", "/api/budget")
        response.raise_for_status()
        return response.json()

    async def spend(self, spend_id: str, agent_id: str, tokens: int) -> None:
        body = {"spend_id": spend_id, "agent_id": agent_id, "tokens": tokens}
        _check_budget(await self.request("POST", "/api/budget/spend", json=body)).raise_for_status()

    async def submit(self, edit: dict) -> dict:
        """The node's answer {edit_id, version, node_id}; the same `edit_id` retried
        (here or on another node) is applied once."""
        response = _check_budget(await self.request("POST", "/api/edits", json=edit))
        if response.status_code >= 400:
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            raise EditRefused(_error_code(response), str(body.get("detail", "")))
        return response.json()


class Chat(Service):
    async def post(self, message: ChatMessage) -> dict:
        response = await self.request("POST", "/api/messages", json=message.model_dump(mode="json", exclude_none=True))
        response.raise_for_status()
        return response.json()

    async def open_intents(self) -> list[OpenIntent]:
        response = await self.request("GET", "/api/intents/open")
        response.raise_for_status()
        return _OPEN_INTENTS.validate_python(response.json()["intents"])


class Analytics(Service):
    """Events wait in an outbox until analytics has stored them: an outage delays
    them, never loses them (each has an idempotent `event_id`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outbox: list = []

    def record(self, event) -> None:
        self.outbox.append(event)

    async def flush(self) -> bool:
        if not self.outbox:
            return True
        batch = self.outbox[:1000]
        body = _EVENTS.dump_python(batch, mode="json", exclude_none=True)
        try:
            response = await self.request("POST", "/api/events", json=body)
        except Unavailable as exc:
            log.warning("analytics_unavailable", pending=len(self.outbox), error=str(exc))
            return False
        if response.status_code >= 400:  # a bug, not an outage: retrying cannot help
            log.error("analytics_refused_events", status=response.status_code, body=response.text[:500])
        del self.outbox[: len(batch)]
        return await self.flush()
