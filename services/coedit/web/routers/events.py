"""`GET /events`: the one live stream a page opens (Server-Sent Events).

`?topics=status,document,chat,analytics` picks what it gets. On connect it is
sent the current state of its topics, so a page that reconnects (after a restart
of this server, say) is up to date at once. Chat events carry the chat's stream id
as their SSE id: a reconnecting EventSource sends it back as `Last-Event-ID` and
gets the messages it missed (also `?chat_after=ID` for a page's first connect)."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from coedit.common.errors import ApiError
from coedit.common.streams import STREAM_REFUSALS, stream_slot
from coedit.web.deps import HubDep, MonitorDep
from coedit.web.hub import Event
from coedit.web.live import Monitor

router = APIRouter(tags=["events"])
TOPICS = {"status", "document", "chat", "analytics"}
RETRY_MS = 2000  # how soon a browser reconnects
StreamId = Annotated[str | None, Query(pattern=r"^\d+(-\d+)?$")]


def _sse(event: Event) -> ServerSentEvent:
    return ServerSentEvent(data=event.data, event=event.name, id=event.id, retry=RETRY_MS)


def snapshot(monitor: Monitor, topics: set[str], chat_after: str | None) -> list[Event]:
    events = [monitor.status_event()]
    if "document" in topics:
        events.append(monitor.document_event())
    if "analytics" in topics:
        events.append(monitor.analytics_event())
    if "chat" in topics and chat_after:
        missed = monitor.messages_after(chat_after)
        events += [monitor.chat_event(m) for m in (missed if missed is not None else monitor.messages)]
    return events


@router.get("/events", dependencies=[Depends(stream_slot)], responses=STREAM_REFUSALS)
async def events(
    monitor: MonitorDep, hub: HubDep,
    topics: Annotated[str, Query(max_length=100)] = "status",
    chat_after: StreamId = None,
    last_event_id: Annotated[str | None, Header(pattern=r"^\d+(-\d+)?$")] = None,
):
    wanted = {t for t in topics.split(",") if t}
    if not wanted or wanted - TOPICS:
        raise ApiError(422, "invalid_request", f"topics must be some of {sorted(TOPICS)}")
    subscriber = hub.subscribe(wanted | {"status"})  # before the snapshot: nothing falls between

    async def stream() -> AsyncIterator[ServerSentEvent]:
        try:
            for event in snapshot(monitor, wanted, last_event_id or chat_after):
                yield _sse(event)
            while (event := await subscriber.queue.get()) is not None:
                yield _sse(event)
        finally:
            hub.unsubscribe(subscriber)

    return EventSourceResponse(stream(), ping=15)
