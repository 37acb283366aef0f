"""The chat as a real process on a real Redis, and small clients for its API."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import redis

from tests.conftest import AUTH, AUTH_TOKEN

STREAM = "coedit:chat:{default}:messages"

SAMPLES = {
    "edit_intent": {"type": "edit_intent", "agent_id": "ada", "intent_id": "i-1",
                    "summary": "make the robots argue about the ending", "anchor": "The end."},
    "edit_comment": {"type": "edit_comment", "agent_id": "bob", "text": "fine by me", "ref": "i-1"},
    "edit_operation": {"type": "edit_operation", "agent_id": "ada", "intent_id": "i-1",
                       "edit_id": "e-1", "version": 7, "op": "insert_after"},
    "intent_status": {"type": "intent_status", "agent_id": "ada", "intent_id": "i-1",
                      "status": "applied"},
}


def comment(n: int, agent: str = "ada") -> dict:
    return {"type": "edit_comment", "agent_id": agent, "text": f"message {n}"}


@pytest.fixture
def chat_factory(redis_server, service_factory) -> Callable:
    """Start a chat process on the test's Redis with extra flags."""

    def start(*flags: str, name: str = "chat"):
        args = ["--redis-url", redis_server.url, *flags]
        return service_factory("chat", args, name=name).start()

    return start


def all_messages(chat_url: str) -> list[dict]:
    """Every message the chat holds, oldest first (a page without `after` is the newest)."""
    found, after = [], "0-0"
    while page := httpx.get(f"{chat_url}/api/messages", params={"limit": 1000, "after": after},
                            timeout=10).json()["messages"]:
        found += page
        after = page[-1]["id"]
    return found


@pytest.fixture
def chat(chat_factory):
    return chat_factory("--max-len", "50")


@pytest.fixture
async def client(chat) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=chat.url, headers=AUTH, timeout=30) as http:
        yield http


@pytest.fixture
def redis_client(redis_server) -> redis.Redis:
    with redis.Redis.from_url(redis_server.url) as client:
        yield client


async def post(client: httpx.AsyncClient, message: dict) -> dict:
    response = await client.post("/api/messages", json=message)
    assert response.status_code == 201, response.text
    return response.json()


async def page(client: httpx.AsyncClient, **params) -> list[dict]:
    response = await client.get("/api/messages", params=params)
    assert response.status_code == 200, response.text
    return response.json()["messages"]


async def sse_events(response: httpx.Response) -> AsyncIterator[dict]:
    """Events of an open SSE response as {"id", "data"}; pings are skipped."""
    event: dict = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in event:
                yield {"id": event.get("id"), "data": json.loads(event["data"])}
            event = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            event[field] = value.removeprefix(" ")


class SseReader:
    """Reads an open SSE response a few events at a time."""

    def __init__(self, response: httpx.Response):
        self.events = sse_events(response)

    async def take(self, count: int) -> list[dict]:
        """The next `count` messages (generous deadline: the machine is shared)."""
        async with asyncio.timeout(60):
            events = [await anext(self.events) for _ in range(count)]
        assert all(event["id"] == event["data"]["id"] for event in events)
        return [event["data"] for event in events]
