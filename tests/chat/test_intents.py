"""Open intents: leases opened by EditIntent, renewed by the owner's later messages,
closed by applied/cancelled, expired after the TTL, shared by every chat replica."""

import asyncio
import time
from datetime import datetime, timedelta

import httpx

from tests.chat.conftest import SAMPLES, post
from tests.conftest import AUTH

TTL = timedelta(seconds=60)


def intent(intent_id: str, agent: str) -> dict:
    return {**SAMPLES["edit_intent"], "intent_id": intent_id, "agent_id": agent}


def status(intent_id: str, agent: str, value: str) -> dict:
    return {"type": "intent_status", "agent_id": agent, "intent_id": intent_id, "status": value}


async def open_intents(client: httpx.AsyncClient) -> dict[str, dict]:
    response = await client.get("/api/intents/open")
    assert response.status_code == 200
    return {entry["intent_id"]: entry for entry in response.json()["intents"]}


def expiry(entry: dict) -> datetime:
    return datetime.fromisoformat(entry["expires_at"])


def renewed_by(message: dict) -> datetime:
    return datetime.fromisoformat(message["ts"]) + TTL


async def test_applied_and_cancelled_intents_close(client):
    ada = await post(client, intent("i-a", "ada"))
    bob = await post(client, intent("i-b", "bob"))
    listed = (await client.get("/api/intents/open")).json()["intents"]
    assert [{k: v for k, v in e.items() if k != "expires_at"} for e in listed] == [ada, bob]
    assert expiry(listed[0]) == renewed_by(ada)

    await post(client, status("i-a", "ada", "confirmed"))
    assert set(await open_intents(client)) == {"i-a", "i-b"}
    await post(client, status("i-a", "ada", "applied"))
    assert set(await open_intents(client)) == {"i-b"}
    await post(client, status("i-b", "bob", "cancelled"))
    assert await open_intents(client) == {}


async def test_the_owners_later_messages_renew_the_lease(client):
    opened = await post(client, intent("i-a", "ada"))
    assert expiry((await open_intents(client))["i-a"]) == renewed_by(opened)

    renewals = [
        status("i-a", "ada", "confirmed"),
        {**SAMPLES["edit_comment"], "agent_id": "ada", "ref": "i-a"},
        {**SAMPLES["edit_operation"], "agent_id": "ada", "intent_id": "i-a"},
    ]
    for message in renewals:
        renewal = await post(client, message)
        assert expiry((await open_intents(client))["i-a"]) == renewed_by(renewal), message

    last = (await open_intents(client))["i-a"]
    await post(client, status("i-a", "bob", "confirmed"))
    await post(client, {**SAMPLES["edit_comment"], "agent_id": "bob", "ref": "i-a"})
    await post(client, intent("i-a", "bob"))
    assert (await open_intents(client))["i-a"] == last


async def test_a_lease_expires_and_stays_expired(chat_factory):
    chat = chat_factory("--intent-ttl", "0.5")
    async with httpx.AsyncClient(base_url=chat.url, headers=AUTH, timeout=30) as client:
        await post(client, intent("i-a", "ada"))
        deadline = time.monotonic() + 60
        while "i-a" in await open_intents(client):
            assert time.monotonic() < deadline, "the lease never expired"
            await asyncio.sleep(0.1)
        await post(client, status("i-a", "ada", "confirmed"))
        assert await open_intents(client) == {}
        await post(client, intent("i-a", "bob"))
        assert (await open_intents(client))["i-a"]["agent_id"] == "bob"


async def test_replicas_share_the_leases(chat_factory):
    first, second = chat_factory(name="chat-1"), chat_factory(name="chat-2")
    async with (httpx.AsyncClient(base_url=first.url, headers=AUTH) as one,
                httpx.AsyncClient(base_url=second.url, headers=AUTH) as two):
        opened = await post(one, intent("i-a", "ada"))
        assert (await open_intents(two))["i-a"]["id"] == opened["id"]
        await post(two, status("i-a", "ada", "applied"))
        assert await open_intents(one) == {}
