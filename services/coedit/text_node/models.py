"""The text node's public contract (JSON in and out)."""

import base64
import binascii
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pycrdt import Doc

from coedit.common.inputs import Base64Text, Position, StorableText, TokenCount

OpType = Literal["insert_after", "insert_before", "replace", "delete", "append"]
Identifier = Field(min_length=1, max_length=200, pattern=r"^[\w.:@/-]+$")


class EditOp(BaseModel):
    """An anchored change: `anchor` is text the agent saw; the node finds it in its
    current text. `occurrence` (1-based) picks one of several matches."""

    model_config = ConfigDict(extra="forbid")

    type: OpType
    anchor: StorableText = ""
    text: StorableText = ""
    occurrence: int | None = Field(None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _needs_what_it_uses(self) -> "EditOp":
        if self.type != "append" and not self.anchor:
            raise ValueError(f"op {self.type!r} needs a non-empty anchor")
        if self.type in ("insert_after", "insert_before", "append") and not self.text:
            raise ValueError(f"op {self.type!r} needs non-empty text")
        return self


class EditRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    edit_id: str = Identifier
    agent_id: str = Identifier
    op: EditOp
    tokens: TokenCount | None = Field(None, description="tokens spent producing this edit")
    intent_id: StorableText | None = Field(None, max_length=200)
    summary: StorableText | None = Field(None, max_length=2000, description="why the agent made the edit")


class EditAccepted(BaseModel):
    edit_id: str
    version: int
    node_id: str


class Document(BaseModel):
    text: str
    version: int
    node_id: str


class VersionText(BaseModel):
    version: int
    text: str


class EditRecord(BaseModel):
    version: int
    edit_id: str
    agent_id: str
    op: EditOp
    intent_id: str | None = None
    summary: str | None = None
    node_id: str = Field(description="the node that accepted the edit from its agent")
    created_at: datetime


class EditLog(BaseModel):
    edits: list[EditRecord]


def _not_internal(spend_id: str) -> str:
    if spend_id.startswith("edit:"):
        raise ValueError("spend ids starting with 'edit:' are the node's own (an edit's tokens)")
    return spend_id


class SpendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spend_id: Annotated[str, AfterValidator(_not_internal)] = Field(
        min_length=1, max_length=200, pattern=r"^[\w.:@/-]+$",
        description="idempotency key; `edit:...` is the node's own (an edit's tokens)",
    )
    agent_id: str = Identifier
    tokens: TokenCount


class Budget(BaseModel):
    limit: int
    spent: int
    remaining: int
    exhausted: bool


class PeerStatus(BaseModel):
    url: str
    node_id: str | None
    reachable: bool
    last_success: datetime | None
    last_error: str | None
    peer_lacks_edits: int | None = Field(description="edits we hold that the peer lacks")
    we_lack_edits: int | None = Field(description="edits the peer holds that we lack")
    lag_seconds: float = Field(description="how long we have lacked the peer's edits")


class Replication(BaseModel):
    node_id: str
    version: int
    history_complete: bool = Field(
        description="every version's text can be served (false while deltas of a catch-up are being computed)"
    )
    peers: list[PeerStatus]


# --- internal replication routes (node to node) ---


class LogRecord(BaseModel):
    """One CRDT update in a node's log: an edit or a spend as its origin made it, or
    a `sync` record (a state-vector diff fetched to repair a replica)."""

    seq: Position
    kind: Literal["edit", "spend", "sync"]
    record_id: StorableText = Field(max_length=200)
    origin: StorableText = Field(max_length=200)
    update: Base64Text = Field(description="base64 of the CRDT update")


class LogPage(BaseModel):
    node_id: str
    epoch: str
    genesis: str
    records: list[LogRecord]
    last_seq: int = Field(description="the log position this page covers up to (the next `after`)")


class Push(BaseModel):
    """A node's own records, sent to a peer after they were committed."""

    node_id: str
    epoch: str
    genesis: str
    after_seq: Position = Field(description="a position in the sender's log: every own record of the sender "
                                       "after it, up to the last one here, is in this push")
    records: list[LogRecord]


def _state_vector(value: str) -> str:
    try:
        Doc().get_update(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        raise ValueError("must be a base64 CRDT state vector") from None
    return value


class SyncRequest(BaseModel):
    node_id: StorableText = Field(max_length=200)
    genesis: StorableText = Field(max_length=200)
    state_vector: Annotated[str, AfterValidator(_state_vector)]


class SyncResponse(BaseModel):
    node_id: str
    epoch: str
    state_vector: str
    you_lack_edits: int


class DiffResponse(BaseModel):
    node_id: str
    update: str = Field(description="base64 CRDT update with everything the caller lacks")
