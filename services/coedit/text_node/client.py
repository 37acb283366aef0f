"""The text node's typed client, the only code outside this folder that knows its
routes: `TextNodesClient` spreads over the interchangeable nodes of a session (with
failover, and the "unsure whether applied" rule for edits); `TextNodeClient` asks
one node (the web's per-node view, `up status`, the operator's reader)."""

import asyncio
from urllib.parse import quote

import httpx
import structlog
from tenacity import AsyncRetrying, retry_if_exception_type

from coedit.common.client import (
    NotFound, Refused, ServiceClient, ServiceError, Unavailable, Unsure, backoff, error_body,
)
from coedit.text_node.models import (
    Budget, Document, EditAccepted, EditLog, EditRequest, Replication, ReservationGranted, ReserveRequest,
    RestoreRequest, SettleRequest, Settlement, SpendRequest, VersionText,
)

__all__ = [
    "EDITS_PATH", "MAX_EDIT_PAGE", "BudgetExhausted", "EditRefused", "NotFound", "OutcomeUnknown",
    "Refused", "ServiceError", "TextNodeClient", "TextNodesClient", "Unavailable",
]

log = structlog.get_logger("coedit.client")

EDITS_PATH = "/api/edits"  # for a load generator that cannot afford a client (bench/)
MAX_EDIT_PAGE = 1000  # the largest `limit` GET /api/edits accepts


class BudgetExhausted(ServiceError):
    """The node answered 429 `budget_exhausted`: the session is over."""


class EditRefused(Refused):
    """A node refused an edit: `code` is 409 anchor_not_found / anchor_ambiguous (then
    `matches` says how often the anchor occurs), 413 document_too_large, other 4xx."""

    def __init__(self, status: int, code: str, detail="", body: dict | None = None):
        super().__init__(status, code, detail, body)
        self.matches: int | None = self.body.get("matches")


class OutcomeUnknown(ServiceError):
    """An edit reached the node at `url`, which stayed unreachable past the deadline:
    it may or may not have been applied (the node, once back, replicates it if it was)."""

    def __init__(self, url: str, message: str):
        super().__init__(message)
        self.url = url


def _idle_for_at_least(seconds: float):
    """A tenacity stop: once the waits between attempts add up to `seconds` (counted
    from the waits themselves, so an injected sleep makes it instant in tests)."""
    return lambda state: state.idle_for >= seconds


class TextNodesClient(ServiceClient):
    """The nodes of one session; reads and spends fail over freely, edits only when
    safe (see `submit`). `unsure_timeout`: seconds of waits on a node that got an
    edit and stopped answering, before `OutcomeUnknown`."""

    def __init__(self, urls: str | list[str], *, unsure_timeout: float = 30.0, **kwargs):
        super().__init__(urls, **kwargs)
        self.unsure_timeout = unsure_timeout

    def checked(self, response: httpx.Response) -> httpx.Response:
        if response.status_code == 429 and error_body(response).get("error") == "budget_exhausted":
            raise BudgetExhausted(response.text)
        return super().checked(response)

    async def document(self) -> Document:
        return await self.call("GET", "/api/document", Document)

    async def version_text(self, version: int) -> VersionText:
        """The text at `version`; NotFound when the node does not hold it (yet)."""
        return await self.call("GET", f"/api/document/versions/{version}", VersionText)

    async def edits(self, after_version: int = 0, limit: int = MAX_EDIT_PAGE) -> EditLog:
        """Up to `limit` edits after `after_version`, oldest first."""
        return await self.call("GET", EDITS_PATH, EditLog,
                               params={"after_version": after_version, "limit": limit})

    async def budget(self) -> Budget:
        return await self.call("GET", "/api/budget", Budget)

    async def replication(self) -> Replication:
        return await self.call("GET", "/api/replication", Replication)

    async def spend(self, spend: SpendRequest) -> Budget:
        """Record tokens used without a reservation; the budget as it stands after
        them. Idempotent on `spend_id` (failing over is safe). BudgetExhausted (429)
        when the budget cannot cover them: then nothing is recorded."""
        return await self.call("POST", "/api/budget/spend", Budget, json=spend.model_dump(mode="json"))

    async def reserve(self, reservation: ReserveRequest) -> ReservationGranted:
        """Hold an upper bound of a model call's tokens before making it.
        BudgetExhausted (429) when the session's budget cannot cover it. A node whose
        peers hold the rights but do not answer says 503 and the next node is tried.
        Failing over after an unsure failure may hold the tokens twice for a while:
        the copy never settled expires (it never counts as spent)."""
        return await self.call("POST", "/api/budget/reserve", ReservationGranted,
                               json=reservation.model_dump(mode="json", exclude_none=True))

    async def settle(self, settle: SettleRequest) -> Settlement:
        """Record what the call used and release the rest; any node will do (one
        that does not hold the reservation forwards it, or records it for its node:
        `state` "pending"). Idempotent on `reservation_id`."""
        return await self.call("POST", "/api/budget/settle", Settlement, json=settle.model_dump(mode="json"))

    async def submit(self, edit: EditRequest) -> EditAccepted:
        """The node's answer. A node applies an `edit_id` once, but another node only
        knows it after replication: so an edit goes to another node only when the
        first certainly did not get it; after an unsure failure the same node is asked
        again (it answers the first outcome, or applies the edit now) until
        `unsure_timeout` s of waits, then OutcomeUnknown. A refusal is EditRefused."""
        body = edit.model_dump(mode="json", exclude_none=True)
        try:
            response = await self.request("POST", EDITS_PATH, unsure_ok=False, json=body)
        except Unsure as exc:
            log.warning("edit_outcome_unsure", edit_id=edit.edit_id, error=str(exc))
            response = await self._again(exc.url, EDITS_PATH, body)
        try:
            self.checked(response)
        except Refused as exc:
            raise EditRefused(exc.status, exc.code, exc.detail, exc.body) from None
        return EditAccepted.model_validate_json(response.content)

    async def find_edit(self, edit_id: str) -> tuple[EditAccepted | None, list[str]]:
        """Whether any node holds `edit_id`, asking every one at once: the first
        outcome found, and the URLs that did not answer (while one is silent, None
        does not prove the edit was never applied: that node may hold it)."""
        async def ask(url: str) -> EditAccepted | None | str:
            try:
                response = await self.send("GET", f"{url}{EDITS_PATH}/{quote(edit_id, safe=':@/')}")
            except httpx.TransportError:
                return url
            if response.status_code == 404:
                return None
            if response.status_code >= 500:
                return url
            return EditAccepted.model_validate_json(self.checked(response).content)

        answers = await asyncio.gather(*(ask(url) for url in self.urls))
        found = next((a for a in answers if isinstance(a, EditAccepted)), None)
        return found, [a for a in answers if isinstance(a, str)]

    async def restore(self, restore: RestoreRequest) -> EditAccepted:
        """A new version with `restore.version`'s text, attributed to the person. With
        an `edit_id` it is idempotent on the node that got it (as an edit is)."""
        return await self.call("POST", "/api/document/restore", EditAccepted, unsure_ok=False,
                               json=restore.model_dump(mode="json", exclude_none=True))

    def yjs_url(self, name: str, token: str | None, room: str = "document") -> str:
        """The node's Yjs sync endpoint (y-websocket's `serverUrl + "/" + room`) for a person."""
        query = httpx.QueryParams({"name": name, **({"token": token} if token else {})})
        return f"{self.url.replace('http', 'ws', 1)}/yjs/{quote(room, safe='')}?{query}"

    async def _again(self, url: str, path: str, body: dict) -> httpx.Response:
        extra = {} if self.sleep is None else {"sleep": self.sleep}
        retrying_same = AsyncRetrying(
            wait=backoff(), stop=_idle_for_at_least(self.unsure_timeout), reraise=True,
            retry=retry_if_exception_type((httpx.TransportError, Unavailable)), **extra,
        )
        try:
            async for attempt in retrying_same:
                with attempt:
                    response = await self.send("POST", url + path, json=body)
                    if response.status_code >= 500:
                        raise Unavailable(f"{url}: {response.status_code}")
                    return response
        except (httpx.TransportError, Unavailable) as exc:
            raise OutcomeUnknown(url, f"{url} got the edit, then stopped answering ({exc!r})") from exc


class TextNodeClient(TextNodesClient):
    """One node, by itself (a failure is that node's, never another's answer)."""

    def __init__(self, url: str, **kwargs):
        super().__init__([url], **kwargs)
