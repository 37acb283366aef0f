"""The chat's client against a real chat: typed messages in and out, the stream."""

import asyncio

import pytest
from coedit.chat.client import ChatClient, Refused, Unavailable
from coedit.chat.models import EditComment, EditIntent, IntentStatus
from coedit.local.servers import free_port

from tests.conftest import AUTH_TOKEN


@pytest.fixture
async def chat_client(chat):
    async with ChatClient(chat.url, token=AUTH_TOKEN, timeout=30) as client:
        yield client


async def test_posts_page_and_open_intents_are_typed(chat_client):
    intent = EditIntent(agent_id="ada", message_id="m1", intent_id="i-1", summary="why", anchor="The end.")
    posted = await chat_client.post(intent)
    assert isinstance(posted, EditIntent) and posted.id and posted.ts
    assert await chat_client.post(intent) == posted  # the same message_id: the first message
    comment = await chat_client.post(EditComment(agent_id="bob", text="fine by me", ref="i-1"))
    assert [m.id for m in await chat_client.messages()] == [posted.id, comment.id]
    assert [m.id for m in await chat_client.messages(after=posted.id)] == [comment.id]
    assert [m.id for m in await chat_client.messages(before=comment.id)] == [posted.id]
    [open_intent] = await chat_client.open_intents()
    assert (open_intent.intent_id, open_intent.agent_id) == ("i-1", "ada") and open_intent.expires_at
    await chat_client.post(IntentStatus(agent_id="ada", intent_id="i-1", status="applied"))
    assert await chat_client.open_intents() == []


async def test_the_stream_delivers_messages_after_an_id(chat_client):
    first = await chat_client.post(EditComment(agent_id="ada", text="one"))
    second = await chat_client.post(EditComment(agent_id="ada", text="two"))
    async with asyncio.timeout(60), chat_client.stream(after=first.id) as messages:
        assert await anext(messages) == second
        third = await chat_client.post(EditComment(agent_id="bob", text="three"))
        assert await anext(messages) == third


async def test_a_refused_post_and_a_missing_chat_are_typed_errors(chat):
    async with ChatClient(chat.url, timeout=30) as anonymous:
        with pytest.raises(Refused) as refused:
            await anonymous.post(EditComment(agent_id="ada", text="no token"))
        assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    async with ChatClient(f"http://127.0.0.1:{free_port()}", timeout=2) as nowhere:
        with pytest.raises(Unavailable):
            await nowhere.open_intents()
        with pytest.raises(Unavailable):
            async with nowhere.stream():
                pass
