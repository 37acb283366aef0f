"""People's writes: chat messages, pause and resume (token required), and the
session's state."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from coedit.chat.models import MAX_TEXT_CHARS, PersonMessage
from coedit.common.client import Refused, ServiceError
from coedit.common.errors import ApiError, error_responses
from coedit.common.inputs import Storable
from coedit.text_node.models import PERSON_NAME, EditAccepted, RestoreRequest
from coedit.web.auth import require_person
from coedit.web.deps import MonitorDep

router = APIRouter(prefix="/api", tags=["people"])
Person = [Depends(require_person)]


class ChatPost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    author: str = Field(pattern=PERSON_NAME, description="the person's name")
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS), Storable]
    message_id: str | None = Field(None, min_length=1, max_length=200, description="idempotency key")


class SessionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(None, pattern=PERSON_NAME)


class Session(BaseModel):
    state: str = Field(description="running | paused | completed")
    paused: bool
    changed_by: str | None = None
    completion: str | None = Field(None, description="why the session is over, in words (state completed)")
    budget: dict | None = None


def _chat(monitor: MonitorDep):
    if monitor.upstream.chat is None:
        raise ApiError(503, "chat_unavailable", "no chat configured")
    return monitor.upstream.chat


async def _answer(call):
    try:
        return await call
    except ServiceError as error:
        raise ApiError(503, "chat_unavailable", str(error)) from None


@router.get("/intents", responses=error_responses(503))
async def open_intents(monitor: MonitorDep) -> dict:
    """The agents' open intents (who means to change which passage), for the editor
    to highlight."""
    intents = await _answer(_chat(monitor).open_intents())
    return {"intents": [{"agent_id": i.agent_id, "anchor": i.anchor, "summary": i.summary} for i in intents]}


@router.post("/chat", status_code=201, dependencies=Person, responses=error_responses(401, 413, 503))
async def post_chat(monitor: MonitorDep, post: ChatPost) -> dict:
    """A person's message to the agents (they put the latest in their prompts)."""
    message = PersonMessage(agent_id=post.author, text=post.text,
                            message_id=post.message_id or f"person-{uuid.uuid4().hex}")
    stored = await _answer(_chat(monitor).post(message))
    return stored.model_dump(mode="json")


@router.get("/session", response_model=Session, responses=error_responses(503))
async def session(monitor: MonitorDep) -> Session:
    state = await _answer(_chat(monitor).session())
    monitor.session_state(state)
    return _session(monitor, state)


@router.post("/session/pause", response_model=Session, dependencies=Person,
             responses=error_responses(401, 413, 503))
async def pause(monitor: MonitorDep, change: SessionChange | None = None) -> Session:
    """Within a few seconds no agent starts a model call or submits an edit."""
    return _changed(monitor, await _answer(_chat(monitor).pause(change.by if change else None)))


@router.post("/session/resume", response_model=Session, dependencies=Person,
             responses=error_responses(401, 413, 503))
async def resume(monitor: MonitorDep, change: SessionChange | None = None) -> Session:
    return _changed(monitor, await _answer(_chat(monitor).resume(change.by if change else None)))


def _changed(monitor, state) -> Session:
    """After a pause or resume: every open page learns it at once."""
    monitor.session_state(state)
    monitor.publish_status()
    return _session(monitor, state)


def _session(monitor, state) -> Session:
    """Completed when any stop condition ended it (the runner's, told to the chat or in
    its status, or the budget), else paused or running as people left it."""
    completion = monitor.completion_message
    return Session(state="completed" if completion else "paused" if state.paused else "running",
                   paused=state.paused, changed_by=state.changed_by, completion=completion, budget=monitor.budget)


# a text node's refusal is passed on as it is
@router.post("/document/restore", status_code=201, response_model=EditAccepted, dependencies=Person,
             responses=error_responses(401, 404, 409, 413, 429, 503))
async def restore(monitor: MonitorDep, request: RestoreRequest) -> EditAccepted:
    """One new version with that version's text, attributed to the person (made by
    the first text node that is up)."""
    node = next((n for n in monitor.nodes if n.up), None)
    if node is None:
        raise ApiError(503, "text_nodes_unavailable", "no text node is up")
    try:
        return await monitor.upstream.nodes[node.url].restore(request)
    except Refused as refusal:
        raise ApiError(refusal.status, refusal.code, refusal.detail) from None
    except ServiceError as error:
        raise ApiError(503, "text_node_unavailable", str(error)) from None
