"""`/api/messages`: post a message, page through the stream, follow it live (SSE)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, ValidationError
from sse_starlette import EventSourceResponse

from coedit.chat.deps import get_store
from coedit.chat.metrics import MESSAGES_POSTED, SSE_READERS
from coedit.chat.models import MAX_TEXT_CHARS, MESSAGE, Message, MessagePage
from coedit.chat.store import PEOPLE_KEPT, STREAM_ID, ChatStore, in_range
from coedit.common.auth import Writer
from coedit.common.errors import ApiError, error_responses
from coedit.common.streams import STREAM_REFUSALS, stream_slot
from coedit.common.write_rate import WriteRate

router = APIRouter(prefix="/api/messages", tags=["messages"], responses=error_responses(503))

StreamId = Annotated[str | None, Query(pattern=STREAM_ID.pattern, description="a stream id"),
                     AfterValidator(in_range)]


async def posted_message(request: Request) -> Message:
    """The body as a chat message: 413 when a text is too long, else 422 when it is not one."""
    try:
        return MESSAGE.validate_json(await request.body())
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(error["type"] == "message_too_large" for error in errors):
            raise ApiError(
                413, "message_too_large", f"a text field is over {MAX_TEXT_CHARS} characters"
            ) from exc
        raise RequestValidationError(errors) from exc


@router.post("", status_code=201, responses=error_responses(401, 403, 413, 429))
async def post_message(
    caller: Writer,
    message: Annotated[Message, Depends(posted_message)],
    store: Annotated[ChatStore, Depends(get_store)],
    rate: WriteRate,
) -> dict:
    """Store a message; with a `message_id` seen before, answer the first one again.
    An agent's own token posts only as that agent (403); each agent_id has its write
    rate (429)."""
    caller.may_write_as(message.agent_id)
    await rate.hit(message.agent_id)
    posted = await store.post(message)
    if posted.created:
        MESSAGES_POSTED.labels(message.type).inc()
    return posted.message


@router.get("", response_model=MessagePage)
async def list_messages(
    store: Annotated[ChatStore, Depends(get_store)],
    after: StreamId = None,
    before: StreamId = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    """Up to `limit` messages, oldest first: those right after `after`, else the
    newest before `before`, else the newest of all."""
    return JSONResponse({"messages": await store.page(after=after, before=before, limit=limit)})


@router.get("/people", response_model=MessagePage)
async def people_messages(
    store: Annotated[ChatStore, Depends(get_store)],
    limit: Annotated[int, Query(ge=1, le=PEOPLE_KEPT)] = 5,
) -> JSONResponse:
    """The newest people's messages (`person_message`), oldest first, however many
    agents' messages came after them."""
    return JSONResponse({"messages": await store.people_messages(limit)})


@router.get("/stream", dependencies=[Depends(stream_slot)], responses=STREAM_REFUSALS)
async def stream_messages(
    request: Request,
    store: Annotated[ChatStore, Depends(get_store)],
    after: StreamId = None,
    last_event_id: Annotated[str | None, Header(pattern=STREAM_ID.pattern),
                             AfterValidator(in_range)] = None,
) -> EventSourceResponse:
    """Server-Sent Events, one per message (event id = stream id, data = the message).
    Starts after `Last-Event-ID` (a reconnecting browser), else `after`, else at the end."""
    hub = request.app.state.hub
    if not hub.started.is_set():
        raise ApiError(503, "redis_unavailable", "the live reader has not reached Redis yet")
    start = last_event_id or after or await store.last_id()

    async def events():
        with SSE_READERS.track_inprogress():
            async for event in hub.follow(start):
                yield event

    return EventSourceResponse(events())
