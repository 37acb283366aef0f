"""Posting and paging: every type round-trips, order is the stream's, the cap is exact."""

import asyncio
import json
from datetime import datetime

import httpx

from coedit.chat.models import MAX_TEXT_CHARS, parse_message
from tests.chat.conftest import SAMPLES, STREAM, comment, page, post
from tests.conftest import AUTH


async def test_every_type_round_trips(client):
    stored = [await post(client, sent) for sent in SAMPLES.values()]
    for sent, answer in zip(SAMPLES.values(), stored):
        assert answer == {**sent, "id": answer["id"], "ts": answer["ts"]}
        assert datetime.fromisoformat(answer["ts"]).utcoffset().total_seconds() == 0
        message = parse_message(answer)
        assert (message.type, message.id) == (sent["type"], answer["id"])
    assert await page(client) == stored


async def test_pages_in_stream_order(client):
    ids = [(await post(client, comment(n)))["id"] for n in range(12)]
    texts = lambda messages: [m["text"] for m in messages]  # noqa: E731

    assert [m["id"] for m in await page(client, limit=100)] == ids
    assert texts(await page(client, after="0", limit=5)) == [f"message {n}" for n in range(5)]
    assert texts(await page(client, after=ids[4], limit=5)) == [f"message {n}" for n in range(5, 10)]
    assert texts(await page(client, after=ids[9])) == ["message 10", "message 11"]
    assert await page(client, after=ids[11]) == []
    assert texts(await page(client, before=ids[7], limit=3)) == ["message 4", "message 5", "message 6"]
    assert texts(await page(client, before=ids[0])) == []
    assert texts(await page(client, limit=2)) == ["message 10", "message 11"]
    assert texts(await page(client, after=ids[2], before=ids[6])) == [f"message {n}" for n in range(3, 6)]


async def test_stream_keeps_the_last_max_len(client, redis_client):
    ids = [(await post(client, comment(n)))["id"] for n in range(55)]
    assert redis_client.xlen(STREAM) == 50
    assert [m["id"] for m in await page(client, after="0", limit=1000)] == ids[5:]


async def test_default_cap_is_exactly_1000(chat_factory, redis_client):
    chat = chat_factory()
    limits = httpx.Limits(max_connections=8)
    async with httpx.AsyncClient(base_url=chat.url, headers=AUTH, timeout=60, limits=limits) as client:
        gate = asyncio.Semaphore(8)

        async def one(n: int) -> str:
            async with gate:
                return (await post(client, comment(n)))["id"]

        ids = await asyncio.gather(*(one(n) for n in range(1003)))
        kept = await page(client, after="0", limit=1000)
    assert redis_client.xlen(STREAM) == 1000
    assert [m["id"] for m in kept] == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))[3:]


async def test_a_repeated_message_id_answers_the_first_message(client, redis_client):
    first = await post(client, {**comment(1), "message_id": "m-1"})
    again = await post(client, {**comment(2), "message_id": "m-1"})
    other = await post(client, {**comment(3), "message_id": "m-2"})
    assert again == first and other["id"] != first["id"]
    assert redis_client.xlen(STREAM) == 2


TOO_LONG = "x" * (MAX_TEXT_CHARS + 1)


BAD_MESSAGES = [
    ({"type": "edit_poem", "agent_id": "ada", "text": "hi"}, 422, "invalid_request"),
    ({"agent_id": "ada", "text": "hi"}, 422, "invalid_request"),
    ({"type": "edit_comment", "text": "no agent"}, 422, "invalid_request"),
    ({"type": "edit_intent", "agent_id": "ada", "intent_id": "i", "summary": "s"}, 422,
     "invalid_request"),
    ({**SAMPLES["edit_operation"], "version": -1}, 422, "invalid_request"),
    ({**SAMPLES["edit_operation"], "op": "shout"}, 422, "invalid_request"),
    ({**SAMPLES["intent_status"], "status": "done"}, 422, "invalid_request"),
    ({**SAMPLES["edit_comment"], "mood": "happy"}, 422, "invalid_request"),
    ({**SAMPLES["edit_comment"], "agent_id": ""}, 422, "invalid_request"),
    ([SAMPLES["edit_comment"]], 422, "invalid_request"),
    (b"{not json", 422, "invalid_request"),
    ({**SAMPLES["edit_comment"], "text": TOO_LONG}, 413, "message_too_large"),
    ({**SAMPLES["edit_intent"], "summary": TOO_LONG}, 413, "message_too_large"),
    ({**SAMPLES["edit_intent"], "anchor": TOO_LONG}, 413, "message_too_large"),
]


async def test_bad_messages_are_refused_and_not_written(client):
    good = await post(client, {**SAMPLES["edit_comment"], "text": "x" * MAX_TEXT_CHARS})
    for body, status, error in BAD_MESSAGES:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = await client.post(
            "/api/messages", content=content, headers={"Content-Type": "application/json"}
        )
        assert (response.status_code, response.json()["error"]) == (status, error), body
    assert await page(client) == [good]


async def test_bad_page_queries_are_refused(client):
    for params in [{"after": "abc"}, {"before": "1-x"}, {"limit": 0}, {"limit": 1001},
                   {"after": "99999999999999999999"}, {"before": "1-18446744073709551616"}]:
        response = await client.get("/api/messages", params=params)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_request"), params
    response = await client.get("/api/messages/stream", headers={"Last-Event-ID": "99999999999999999999-1"})
    assert (response.status_code, response.json()["error"]) == (422, "invalid_request")


async def test_pages_past_either_end_are_empty(client):
    """Bounds Redis refuses as exclusive ones (before the first id, after the last
    possible one) mean no message, not a 500."""
    await post(client, comment("one"))
    largest = "18446744073709551615-18446744073709551615"
    for params in [{"before": "0-0"}, {"before": "0"}, {"after": largest}, {"after": "0-0", "before": "0-0"}]:
        response = await client.get("/api/messages", params=params)
        assert (response.status_code, response.json()) == (200, {"messages": []}), params


async def test_posting_needs_the_token(chat, redis_client):
    for headers in [{}, {"Authorization": "Bearer wrong"}]:
        async with httpx.AsyncClient(base_url=chat.url, headers=headers) as anonymous:
            response = await anonymous.post("/api/messages", json=SAMPLES["edit_comment"])
            assert (response.status_code, response.json()["error"]) == (401, "unauthorized")
            assert (await anonymous.get("/api/messages")).json() == {"messages": []}
    assert redis_client.xlen(STREAM) == 0


async def test_metrics_count_messages_by_type(client):
    for kind in ("edit_comment", "edit_comment", "edit_intent"):
        await post(client, SAMPLES[kind])
    metrics = (await client.get("/metrics")).text
    assert 'coedit_chat_messages_total{type="edit_comment"} 2.0' in metrics
    assert 'coedit_chat_messages_total{type="edit_intent"} 1.0' in metrics
