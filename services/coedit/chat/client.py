"""The chat's typed client, the only code outside this folder that knows its routes."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from httpx_sse import EventSource

from coedit.chat.models import (
    ChatMessage,
    Message,
    MessagePage,
    OpenIntent,
    OpenIntents,
    PersonMessage,
    SessionChange,
    SessionCompletion,
    SessionState,
    parse_message,
)
from coedit.common.client import NotFound, Refused, ServiceClient, ServiceError, Unavailable

__all__ = ["MAX_PAGE", "MESSAGES_PATH", "STREAM_PING", "ChatClient", "NotFound", "Refused", "ServiceError", "Unavailable"]

MESSAGES_PATH = "/api/messages"  # for a load generator that cannot afford a client (bench/)
MAX_PAGE = 1000  # the largest `limit` GET /api/messages accepts
STREAM_PING = 15  # seconds between the stream's keep-alive pings


class ChatClient(ServiceClient):
    async def post(self, message: ChatMessage) -> Message:
        """The message as stored (with its stream `id` and `ts`). With a `message_id`
        posted before, the first message again: reposting is safe."""
        body = message.model_dump(mode="json", exclude_none=True)
        response = self.checked(await self.request("POST", MESSAGES_PATH, json=body))
        return parse_message(response.content)

    async def messages(self, *, after: str | None = None, before: str | None = None,
                       limit: int = 100) -> list[Message]:
        """Up to `limit` messages, oldest first: those right after `after`, else the
        newest before `before`, else the newest of all."""
        params = {k: v for k, v in {"after": after, "before": before, "limit": limit}.items() if v is not None}
        return (await self.call("GET", MESSAGES_PATH, MessagePage, params=params)).messages

    async def open_intents(self) -> list[OpenIntent]:
        return (await self.call("GET", "/api/intents/open", OpenIntents)).intents

    async def people_messages(self, limit: int = 5) -> list[PersonMessage]:
        """The newest people's messages, oldest first, however busy the stream is."""
        page = await self.call("GET", MESSAGES_PATH + "/people", MessagePage, params={"limit": limit})
        return [message for message in page.messages if isinstance(message, PersonMessage)]

    async def session(self) -> SessionState:
        """Whether people paused the session, and whether it is over."""
        return await self.call("GET", "/api/session", SessionState)

    async def pause(self, by: str | None = None) -> SessionState:
        return await self.call("POST", "/api/session/pause", SessionState, json=SessionChange(by=by).model_dump())

    async def resume(self, by: str | None = None) -> SessionState:
        return await self.call("POST", "/api/session/resume", SessionState, json=SessionChange(by=by).model_dump())

    async def complete(self, completion: SessionCompletion) -> SessionState:
        """Says the session is over and why (the first completion told stays)."""
        return await self.call("POST", "/api/session/complete", SessionState, json=completion.model_dump())

    @asynccontextmanager
    async def stream(self, after: str | None = None,
                     connect_timeout: float = 10.0) -> AsyncIterator[AsyncIterator[Message]]:
        """Opens the live stream (Server-Sent Events) of the messages after `after` (a
        stream id; default: from now on) and gives the iterator of its messages:
        `async with chat.stream(after) as messages: async for message in messages`.
        Unavailable when it cannot open or breaks off (the iterator never just ends);
        the caller resumes after the last id it got."""
        params = {} if after is None else {"after": after}
        # waiting for a message is not a failure: the stream pings every STREAM_PING s
        timeout = httpx.Timeout(connect_timeout, read=3 * STREAM_PING)
        try:
            async with self.http.stream("GET", self.url + MESSAGES_PATH + "/stream", params=params,
                                        headers=self.headers, timeout=timeout) as response:
                if response.status_code != 200:
                    raise Unavailable(f"chat stream: HTTP {response.status_code}")
                yield _messages(response)
        except httpx.HTTPError as exc:
            raise Unavailable(f"chat stream: {type(exc).__name__} {exc}".strip()) from exc


async def _messages(response: httpx.Response) -> AsyncIterator[Message]:
    """The stream's events as messages. httpx-sse splits lines as the SSE standard
    says (CR, LF, CRLF only): `aiter_lines` also splits on U+2028 and U+0085, which
    a message's text may hold, and cut its JSON in two."""
    try:
        async for event in EventSource(response).aiter_sse():
            if event.data:
                yield parse_message(event.data)
    except httpx.HTTPError as exc:
        raise Unavailable(f"chat stream: {type(exc).__name__} {exc}".strip()) from exc
    raise Unavailable("chat stream ended")
