"""The agent's HTTP peers: the text nodes (with failover), the chat and analytics.
Transient failures (network errors, 5xx) back off like model calls do."""

import httpx
import structlog
from pydantic import TypeAdapter
from tenacity import AsyncRetrying, retry_if_exception_type

from coedit.agent.llm import backoff, retrying
from coedit.analytics.models import Event
from coedit.chat.models import ChatMessage, OpenIntent

log = structlog.get_logger("coedit.agent")

_OPEN_INTENTS = TypeAdapter(list[OpenIntent])
_EVENTS = TypeAdapter(list[Event])


class BudgetExhausted(Exception):
    """The text service answered 429 `budget_exhausted`: the session is over."""


class Unavailable(Exception):
    """No node of a service answered (network error or 5xx), even after backing off."""


class Unsure(Exception):
    """A write reached `url`, which then failed to answer: it may have been applied."""

    def __init__(self, url: str, error: str):
        super().__init__(f"{url}: {error}")
        self.url = url


class OutcomeUnknown(Exception):
    """An edit reached a node that stayed unreachable past the deadline: it may or may
    not have been applied (the node, once back, replicates it if it was)."""


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


# The request certainly never reached the node: safe to send it elsewhere.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _idle_for_at_least(seconds: float):
    """A tenacity stop: once the waits between attempts add up to `seconds` (counted
    from the waits themselves, so an injected sleep makes it instant in tests)."""
    return lambda state: state.idle_for >= seconds


class Service:
    """One or more interchangeable base URLs: a request goes to the current one and
    moves on to the next when it fails; a round where all fail backs off.

    A write that is not safe to repeat elsewhere (`unsure_ok=False`) moves on only
    when the node certainly did not get it (connection refused, connect timeout, a
    5xx answer); after a failure once it was sent (read timeout, connection reset)
    it raises `Unsure` instead, so that the caller asks the same node again."""

    def __init__(self, http: httpx.AsyncClient, urls: list[str], start: int = 0,
                 sleep=None, attempts: int = 6):
        self.http, self.urls = http, urls
        self.current = start % len(urls)
        self.sleep, self.attempts = sleep, attempts

    async def request(self, method: str, path: str, unsure_ok: bool = True, **kwargs) -> httpx.Response:
        async for attempt in retrying(self.sleep, self.attempts, (Unavailable,)):
            with attempt:
                return await self._round(method, path, unsure_ok, **kwargs)

    async def _round(self, method: str, path: str, unsure_ok: bool, **kwargs) -> httpx.Response:
        errors = []
        for _ in self.urls:
            url = self.urls[self.current]
            try:
                response = await self.http.request(method, url + path, **kwargs)
            except httpx.TransportError as exc:
                if not (unsure_ok or isinstance(exc, NOT_SENT)):
                    raise Unsure(url, type(exc).__name__) from exc
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
    def __init__(self, *args, unsure_timeout: float = 30.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.unsure_timeout = unsure_timeout

    async def document(self) -> dict:
        response = await self.request("GET", "/api/document")
        response.raise_for_status()
        return response.json()

    async def budget(self) -> dict:
        response = await self.request("GET", "/api/budget")
        response.raise_for_status()
        return response.json()

    async def spend(self, spend_id: str, agent_id: str, tokens: int) -> dict:
        """Record tokens in the ledger; the budget as it stands after them. The ledger
        merges spends by `spend_id` across nodes, so failing over is always safe. The
        tokens are recorded even when the answer is 429 `budget_exhausted`."""
        body = {"spend_id": spend_id, "agent_id": agent_id, "tokens": tokens}
        response = _check_budget(await self.request("POST", "/api/budget/spend", json=body))
        response.raise_for_status()
        return response.json()

    async def submit(self, edit: dict) -> dict:
        """The node's answer {edit_id, version, node_id}. A node applies an `edit_id`
        once, but another node only knows it after replication: so an edit goes to
        another node only when the first certainly did not get it; after an unsure
        failure the same node is asked again (it answers the first outcome, or
        applies the edit now) until `unsure_timeout` s of waits, then OutcomeUnknown."""
        try:
            response = await self.request("POST", "/api/edits", unsure_ok=False, json=edit)
        except Unsure as exc:
            log.warning("edit_outcome_unsure", edit_id=edit["edit_id"], error=str(exc))
            response = await self._again(exc.url, "/api/edits", edit)
        _check_budget(response)
        if response.status_code >= 400:
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            raise EditRefused(_error_code(response), str(body.get("detail", "")))
        return response.json()


    async def _again(self, url: str, path: str, body: dict) -> httpx.Response:
        extra = {} if self.sleep is None else {"sleep": self.sleep}
        retrying_same = AsyncRetrying(
            wait=backoff(), stop=_idle_for_at_least(self.unsure_timeout), reraise=True,
            retry=retry_if_exception_type((httpx.TransportError, Unavailable)), **extra,
        )
        try:
            async for attempt in retrying_same:
                with attempt:
                    response = await self.http.post(url + path, json=body)
                    if response.status_code >= 500:
                        raise Unavailable(f"{url}: {response.status_code}")
                    return response
        except (httpx.TransportError, Unavailable) as exc:
            raise OutcomeUnknown(f"{url} got the edit, then stopped answering ({exc!r})") from exc


class Chat(Service):
    async def post(self, message: ChatMessage) -> dict:
        response = await self.request("POST", "/api/messages", json=message.model_dump(mode="json", exclude_none=True))
        response.raise_for_status()
        return response.json()

    async def people_messages(self, limit: int) -> list[dict]:
        """The newest people's messages, oldest first, as {name, text}."""
        response = await self.request("GET", "/api/messages/people", params={"limit": limit})
        response.raise_for_status()
        return [{"name": m["agent_id"], "text": m["text"]} for m in response.json()["messages"]]

    async def paused(self) -> bool:
        response = await self.request("GET", "/api/session")
        response.raise_for_status()
        return response.json()["paused"]

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
