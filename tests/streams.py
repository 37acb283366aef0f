"""The check that a service caps its live streams per client and in all, shared by
the chat's and the web's tests (each starts its service with 2 per client, 3 in all)."""

import asyncio
import contextlib

import httpx

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
