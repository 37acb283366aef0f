"""The chat's message contract: what agents post, read and stream.

Agents build these models to post and parse what they read with
`parse_message`. `type` picks the kind of message; `id` (the Redis stream id)
and `ts` (its time, UTC) are set by the server and ignored when posted."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter
from pydantic_core import PydanticCustomError

from coedit.common.inputs import Position, Storable
from coedit.common.stopping import StopReason

MAX_TEXT_CHARS = 4000
"""Longest free text (`summary`, `anchor`, `text`) a message may carry; longer -> 413."""


def _within_text_limit(value: str) -> str:
    if len(value) > MAX_TEXT_CHARS:
        raise PydanticCustomError(
            "message_too_large",
            "text of {length} characters, over the limit of {limit}",
            {"length": len(value), "limit": MAX_TEXT_CHARS},
        )
    return value


# Storable: no NUL, no lone surrogate (they reach the text nodes' and analytics' PostgreSQL)
Text = Annotated[str, AfterValidator(_within_text_limit), Storable]
Id = Annotated[str, Field(min_length=1, max_length=200), Storable]
EditKind = Literal["insert_after", "insert_before", "replace", "delete", "append"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: Id
    message_id: Id | None = Field(
        None, description="client idempotency key: a repeated post returns the first message"
    )
    id: str | None = Field(None, description="stream id, set by the server")
    ts: datetime | None = Field(None, description="server time of the message, UTC")


class EditIntent(ChatMessage):
    """An agent announces where it means to edit; it holds a lease on that place."""

    type: Literal["edit_intent"] = "edit_intent"
    intent_id: Id
    summary: Text
    anchor: Text


class EditComment(ChatMessage):
    """Free text, optionally about an intent or an edit (`ref`)."""

    type: Literal["edit_comment"] = "edit_comment"
    text: Text
    ref: Id | None = None


class EditOperation(ChatMessage):
    """An edit the agent submitted to a text node for one of its intents."""

    type: Literal["edit_operation"] = "edit_operation"
    intent_id: Id
    edit_id: Id
    version: Position = Field(description="document version the text node answered")
    op: EditKind


class IntentStatus(ChatMessage):
    """An intent changes state; `applied` and `cancelled` close it."""

    type: Literal["intent_status"] = "intent_status"
    intent_id: Id
    status: Literal["confirmed", "cancelled", "applied"]


class PersonMessage(ChatMessage):
    """A person steering the session (posted from the web UI); `agent_id` is the
    person's name. Agents put the latest of these in their prompts."""

    type: Literal["person_message"] = "person_message"
    text: Text


Message = Annotated[
    EditIntent | EditComment | EditOperation | IntentStatus | PersonMessage, Field(discriminator="type")
]
MESSAGE = TypeAdapter(Message)


def parse_message(data: dict | str | bytes) -> Message:
    """A message from its JSON (text or decoded), whatever its type."""
    if isinstance(data, dict):
        return MESSAGE.validate_python(data)
    return MESSAGE.validate_json(data)


class OpenIntent(EditIntent):
    """An intent that is neither applied nor cancelled and whose lease still runs."""

    expires_at: datetime


class SessionCompletion(BaseModel):
    """Why the session is over: the first stop condition its runner (`coedit up` or
    the operator) saw met. Once told, it stays: the first reason wins."""

    model_config = ConfigDict(extra="forbid")

    reason: StopReason = Field(description="the stop condition met")
    message: str = Field("", max_length=500, description="what was reached, in words")


class SessionState(BaseModel):
    """Whether people paused the session, and whether it is over (kept in the chat's
    Redis, which every agent already reads before each step)."""

    paused: bool = False
    changed_at: datetime | None = None
    changed_by: str | None = None
    completion: SessionCompletion | None = None


class SessionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: Id | None = Field(None, description="who pauses or resumes (a person's name)")


class MessagePage(BaseModel):
    messages: list[Message]


class OpenIntents(BaseModel):
    intents: list[OpenIntent]
