"""What every service's typed client shares (`text_node/client.py`, `chat/client.py`,
`analytics/client.py`): interchangeable base URLs with failover, backoff on outages,
the bearer token, and the services' JSON errors as typed exceptions.

Traces cross the call on their own: `common/tracing.py` instruments httpx, so every
request carries the caller's `traceparent`."""

from collections.abc import Awaitable, Callable

import httpx
import structlog
from pydantic import BaseModel, TypeAdapter
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from coedit.common.auth import auth_headers

log = structlog.get_logger("coedit.client")

Sleep = Callable[[float], Awaitable[None]]


class ServiceError(Exception):
    """A call to a service failed; subclasses say how."""


class Unavailable(ServiceError):
    """No URL of a service answered (network error or 5xx), even after backing off."""


class Unsure(ServiceError):
    """A write reached `url`, which then failed to answer: it may have been applied."""

    def __init__(self, url: str, error: str):
        super().__init__(f"{url}: {error}")
        self.url = url


class Refused(ServiceError):
    """The service answered 4xx: `code` is the body's stable `error`, `body` all of it."""

    def __init__(self, status: int, code: str, detail="", body: dict | None = None):
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail, self.body = status, code, detail, body or {}


class NotFound(Refused):
    """The service answered 404 (e.g. a version a node does not hold)."""


def error_body(response: httpx.Response) -> dict:
    """The JSON error body, or {} when the answer is not JSON (a proxy's page)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def refusal(response: httpx.Response) -> Refused:
    body = error_body(response)
    kind = NotFound if response.status_code == 404 else Refused
    code = str(body.get("error", response.status_code))
    return kind(response.status_code, code, body.get("detail", ""), body)


def backoff() -> wait_exponential_jitter:
    """1, 2, 4, 8 s, each plus up to 1 s of jitter, never over 8 s."""
    return wait_exponential_jitter(initial=1, max=8, exp_base=2, jitter=1)


def retrying(sleep: Sleep | None, attempts: int, retry_on: tuple[type[Exception], ...]) -> AsyncRetrying:
    extra = {} if sleep is None else {"sleep": sleep}
    return AsyncRetrying(
        wait=backoff(), stop=stop_after_attempt(attempts),
        retry=retry_if_exception_type(retry_on), reraise=True, **extra,
    )


# The request certainly never reached the service: safe to send it elsewhere.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class ServiceClient:
    """One or more interchangeable base URLs: a request goes to the current one and
    moves on to the next when it fails; a round where all fail backs off, up to
    `attempts` rounds (1: no backoff, the caller decides), then `Unavailable`.

    A write that is not safe to repeat elsewhere (`unsure_ok=False`) moves on only
    when the service certainly did not get it (connection refused, connect timeout,
    a 5xx answer); after a failure once it was sent (read timeout, connection reset)
    it raises `Unsure` instead, so that the caller asks the same URL again.

    `http` is shared when given (the caller closes it); otherwise the client owns
    one with `timeout` (close it with `aclose()` or `async with`)."""

    def __init__(self, urls: str | list[str], *, http: httpx.AsyncClient | None = None,
                 token=None, timeout: float | httpx.Timeout = 30.0, start: int = 0,
                 sleep: Sleep | None = None, attempts: int = 1):
        self.urls = [url.rstrip("/") for url in ([urls] if isinstance(urls, str) else urls)]
        if not self.urls:
            raise ValueError("a client needs at least one base URL")
        self._owns_http = http is None
        self.http = httpx.AsyncClient(timeout=timeout) if http is None else http
        self.headers = auth_headers(token)
        self.current = start % len(self.urls)
        self.sleep, self.attempts = sleep, attempts

    @property
    def url(self) -> str:
        """The base URL requests go to first."""
        return self.urls[self.current]

    async def __aenter__(self):
        return self

    async def __aexit__(self, *_):
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def request(self, method: str, path: str, unsure_ok: bool = True, **kwargs) -> httpx.Response:
        """The first answer under 500, from whichever URL gives it."""
        async for attempt in retrying(self.sleep, self.attempts, (Unavailable,)):
            with attempt:
                return await self._round(method, path, unsure_ok, **kwargs)

    async def _round(self, method: str, path: str, unsure_ok: bool, **kwargs) -> httpx.Response:
        errors = []
        for _ in self.urls:
            url = self.urls[self.current]
            try:
                response = await self.send(method, url + path, **kwargs)
            except httpx.TransportError as exc:
                if not (unsure_ok or isinstance(exc, NOT_SENT)):
                    raise Unsure(url, type(exc).__name__) from exc
                reason = type(exc).__name__
            else:
                if response.status_code < 500:
                    return response
                reason = " ".join(filter(None, (f"HTTP {response.status_code}", str(error_body(response).get("error", "")))))
            errors.append(f"{url}{path}: {reason}")
            if len(self.urls) > 1:
                self.current = (self.current + 1) % len(self.urls)
                log.warning("service_failover", failed=url, reason=reason, next=self.urls[self.current])
        raise Unavailable("; ".join(errors))

    async def send(self, method: str, url: str, **kwargs) -> httpx.Response:
        """One request to one full URL, with the token."""
        return await self.http.request(method, url, headers=self.headers, **kwargs)

    def checked(self, response: httpx.Response) -> httpx.Response:
        """The answer when it is a success, else its `Refused` (subclasses add codes)."""
        if response.status_code >= 400:
            raise refusal(response)
        return response

    async def call(self, method: str, path: str, model: type[BaseModel] | TypeAdapter,
                   unsure_ok: bool = True, **kwargs):
        """A request whose success is parsed as `model` (a pydantic model or adapter)."""
        response = self.checked(await self.request(method, path, unsure_ok, **kwargs))
        if isinstance(model, TypeAdapter):
            return model.validate_json(response.content)
        return model.model_validate_json(response.content)

    async def ready(self) -> bool:
        """Whether any URL answers /readyz with 200 (no backoff: the caller retries)."""
        for url in self.urls:
            try:
                if (await self.send("GET", url + "/readyz")).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
        return False

    async def metrics(self) -> str:
        """The current URL's Prometheus exposition."""
        return self.checked(await self.request("GET", "/metrics")).text
