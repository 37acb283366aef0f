"""What the MCP tools answer: each model is a tool's output schema, and its field
descriptions are what a calling model reads about the result."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class DocumentView(BaseModel):
    version: int = Field(description="the document version this text is from")
    text: str = Field(description="the text, copied exactly: anchors must be copied from it verbatim")
    start: int = Field(description="offset of `text` in the whole document (characters)")
    end: int = Field(description="offset just past `text` in the whole document")
    length: int = Field(description="characters in the whole document")
    whole: bool = Field(description="true when `text` is the whole document")


class IntentView(BaseModel):
    intent_id: str
    agent_id: str = Field(description="who announced it")
    anchor: str = Field(description="the text it holds: nobody else may edit where it stands")
    summary: str = Field(description="what its agent means to do there")
    expires_at: datetime = Field(description="when its lease ends unless its agent acts on it (UTC)")
    yours: bool = Field(description="true for your own intents")


class Intents(BaseModel):
    intents: list[IntentView] = Field(description="open intents, oldest first")


class Announced(BaseModel):
    intent_id: str = Field(description="pass it to submit_edit (or cancel_intent)")
    anchor: str
    expires_at: datetime = Field(
        description="the lease's end (UTC); any message about the intent (a comment with "
        "ref=intent_id) renews it"
    )


class EditApplied(BaseModel):
    edit_id: str
    version: int = Field(description="the document version that holds the edit")
    node_id: str = Field(description="the text node that accepted it (it replicates to the others)")


class Cancelled(BaseModel):
    intent_id: str
    status: Literal["cancelled"] = "cancelled"


class Posted(BaseModel):
    id: str = Field(description="the chat message's stream id")
    ts: datetime = Field(description="when the chat stored it (UTC)")


class VersionText(BaseModel):
    version: int
    text: str


class DiffSegment(BaseModel):
    kind: Literal["equal", "insert", "delete"]
    text: str = Field(description="unchanged text longer than a few lines is shortened with …")


class Diff(BaseModel):
    from_version: int
    to_version: int
    segments: list[DiffSegment] = Field(
        description="word-level: equal + delete rebuild the old text, equal + insert the new one"
    )
    inserted_words: int
    deleted_words: int


class Usage(BaseModel):
    spent: int = Field(description="tokens the whole session has spent, yours included")
    limit: int = Field(description="the session's token budget")
    exhausted: bool = Field(description="true once the budget is spent: no more writes")
