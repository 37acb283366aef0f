"""The checks that a service caps its live streams per client and in all, shared by
the chat's, the web's and the text node's tests (each starts its service with 2 per
client, 3 in all, or 2 in all)."""

import asyncio
import contextlib
import json
import time

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

CAP_FLAGS = ["--max-streams-per-client", "2", "--max-streams", "3"]


async def assert_streams_capped(url: str, path: str) -> None:
    """Clients on three loopback addresses open streams: a third from one address is
    429, a fourth in all 503, each with a JSON body; a closed stream frees its slot."""
    async with contextlib.AsyncExitStack() as stack:
        client = {}
        for address in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
            client[address] = await stack.enter_async_context(httpx.AsyncClient(
                base_url=url, transport=httpx.AsyncHTTPTransport(local_address=address), timeout=30))
        first = await stack.enter_async_context(client["127.0.0.1"].stream("GET", path))
        held = [await stack.enter_async_context(client[a].stream("GET", path)) for a in ("127.0.0.1", "127.0.0.2")]
        assert [r.status_code for r in (first, *held)] == [200, 200, 200]
        over_client = await client["127.0.0.1"].get(path)
        assert (over_client.status_code, over_client.json()["error"]) == (429, "too_many_streams")
        over_all = await client["127.0.0.3"].get(path)
        assert (over_all.status_code, over_all.json()["error"]) == (503, "streams_full")

        await first.aclose()
        for _ in range(100):  # the server sees the close within moments
            async with client["127.0.0.3"].stream("GET", path) as again:
                if again.status_code == 200:
                    return
            await asyncio.sleep(0.1)
        raise AssertionError(f"a closed stream's slot stayed taken: {again.status_code}")


def refused_handshake(url: str, address: str = "127.0.0.1") -> tuple[int, str]:
    """The HTTP status and `error` a WebSocket handshake from `address` was refused with."""
    with pytest.raises(InvalidStatus) as refused, connect(url, open_timeout=10, source_address=(address, 0)):
        pass
    return refused.value.response.status_code, json.loads(refused.value.response.body)["error"]


def assert_websockets_capped(url: str, per_client: bool = True) -> None:
    """As `assert_streams_capped`, for WebSockets (`url`: ws://...): refused at the
    handshake with the status and JSON body an HTTP stream gets. Without `per_client`
    the service holds 2 in all from any address."""
    with contextlib.ExitStack() as stack:
        def open_from(address: str):
            return stack.enter_context(connect(url, open_timeout=10, source_address=(address, 0)))

        first, _ = open_from("127.0.0.1"), open_from("127.0.0.1")
        if per_client:
            assert refused_handshake(url) == (429, "too_many_streams")
            open_from("127.0.0.2")
        assert refused_handshake(url, "127.0.0.3") == (503, "streams_full")
        first.close()
        deadline = time.monotonic() + 10
        while True:  # the server sees the close within moments
            try:
                open_from("127.0.0.3")
                return
            except InvalidStatus:
                assert time.monotonic() < deadline, "a closed connection's slot stayed taken"
                time.sleep(0.1)
