"""Calls to the session's services. Any failure (down, slow, an error status)
becomes `Unavailable`, which the pages show as degraded instead of failing."""

import httpx

from coedit.common.auth import auth_headers


class Unavailable(Exception):
    """An upstream call failed; the message says which and why."""


class NotFound(Unavailable):
    """The upstream answered 404 (e.g. a version a node does not hold)."""


class Upstream:
    def __init__(self, timeout: float, token=None):
        self.http = httpx.AsyncClient(timeout=timeout, headers=auth_headers(token))

    async def get(self, url: str, **params) -> dict:
        try:
            response = await self.http.get(url, params={k: v for k, v in params.items() if v is not None})
        except httpx.HTTPError as error:
            raise Unavailable(f"{url}: {type(error).__name__} {error}".strip()) from error
        if response.status_code == 404:
            raise NotFound(f"{url}: {response.text[:200]}")
        if response.status_code >= 400:
            raise Unavailable(f"{url}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    async def aclose(self) -> None:
        await self.http.aclose()
