"""Live readers over SSE: delivery, resume from Last-Event-ID, a Redis restart."""

import asyncio
import contextlib
import time

import httpx

from tests.chat.conftest import SseReader, comment, post
from tests.streams import CAP_FLAGS, assert_streams_capped


async def test_a_reader_gets_new_messages_as_posted(client):
    await post(client, comment(0))
    async with client.stream("GET", "/api/messages/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        sent = [await post(client, comment(n)) for n in range(1, 4)]
        events = await SseReader(response).take(3)
    assert events == sent


async def test_a_reader_resumes_after_last_event_id(client):
    sent = [await post(client, comment(n)) for n in range(5)]
    headers = {"Last-Event-ID": sent[1]["id"]}
    async with client.stream("GET", "/api/messages/stream", headers=headers) as response:
        reader = SseReader(response)
        backlog = await reader.take(3)
        sent.append(await post(client, comment(5)))
        live = await reader.take(1)
    assert backlog + live == sent[2:]


async def test_after_query_starts_a_reader_like_last_event_id(client):
    sent = [await post(client, comment(n)) for n in range(3)]
    async with client.stream("GET", "/api/messages/stream", params={"after": "0"}) as response:
        assert await SseReader(response).take(3) == sent


async def test_many_readers_each_get_every_message(client):
    async with (client.stream("GET", "/api/messages/stream") as first,
                client.stream("GET", "/api/messages/stream") as second):
        sent = [await post(client, comment(n)) for n in range(20)]
        got = await asyncio.gather(SseReader(first).take(20), SseReader(second).take(20))
    assert got == [sent, sent]


async def test_bad_last_event_id_is_refused(client):
    response = await client.get("/api/messages/stream", headers={"Last-Event-ID": "yesterday"})
    assert response.status_code == 422


async def wait_until(check, what: str) -> None:
    deadline = time.monotonic() + 60
    while not await check():
        assert time.monotonic() < deadline, f"still not {what}"
        await asyncio.sleep(0.1)


async def test_a_reader_survives_a_redis_restart(client, redis_server):
    async with client.stream("GET", "/api/messages/stream") as response:
        reader = SseReader(response)
        before = await post(client, comment(0))
        assert await reader.take(1) == [before]

        redis_server.stop()
        refused = await client.post("/api/messages", json=comment(1))
        assert (refused.status_code, refused.json()["error"]) == (503, "redis_unavailable")
        reading = await client.get("/api/messages")
        assert (reading.status_code, reading.json()["error"]) == (503, "redis_unavailable")
        assert (await client.get("/readyz")).status_code == 503

        redis_server.start()
        await wait_until(lambda: ready(client), "ready again")
        after = await post(client, comment(2))
        assert await reader.take(1) == [after]
    assert [m["id"] for m in (await client.get("/api/messages")).json()["messages"]] == [
        before["id"], after["id"]
    ]


async def ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def test_readers_are_counted_in_metrics(client):
    async def readers(count: int) -> bool:
        return f"coedit_chat_sse_readers {count}.0" in (await client.get("/metrics")).text

    async with client.stream("GET", "/api/messages/stream"):
        await wait_until(lambda: readers(1), "one reader")
    await wait_until(lambda: readers(0), "no reader")


async def test_live_streams_are_capped_per_client_and_in_all(chat_factory):
    chat = chat_factory(*CAP_FLAGS, name="chat-capped")
    await assert_streams_capped(chat.url, "/api/messages/stream")


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_share(chat_factory):
    """Behind an ingress every client comes from its address: a cap per address would
    be one share for everyone. Trusted (`--forwarded-allow-ips`), X-Forwarded-For names
    the client; untrusted, it is ignored and the proxy's address counts."""
    trusting = chat_factory(*CAP_FLAGS, "--forwarded-allow-ips", "*", name="chat-behind-proxy")
    untrusting = chat_factory(*CAP_FLAGS, name="chat-untrusting")
    for chat, third in ((trusting, 200), (untrusting, 429)):
        async with contextlib.AsyncExitStack() as stack:
            proxy = httpx.AsyncHTTPTransport(local_address="127.0.0.2")  # not trusted by default
            client = await stack.enter_async_context(httpx.AsyncClient(base_url=chat.url, transport=proxy, timeout=30))

            async def status(person: str) -> int:
                response = await stack.enter_async_context(client.stream(
                    "GET", "/api/messages/stream", headers={"X-Forwarded-For": person}))
                return response.status_code

            assert [await status("10.0.0.1"), await status("10.0.0.1"), await status("10.0.0.2")] == [200, 200, third]
