"""The text node's public contract (JSON in and out)."""

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pycrdt import Doc

from coedit.common.inputs import MAX_TOKENS, Base64Text, Position, StorableText, TokenCount

OpType = Literal["insert_after", "insert_before", "replace", "delete", "append"]
IDENTIFIER = {"min_length": 1, "max_length": 200, "pattern": r"^[\w.:@/-]+$"}  # an edit's, agent's, spend's id
Identifier = Field(**IDENTIFIER)


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


PERSON_NAME = r"^[^\x00-\x1f\x7f]{1,100}$"  # a person's name as they give it (no control characters)


class RestoreRequest(BaseModel):
    """A new version whose text is that of `version`, attributed to the person."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0)
    agent_id: str = Field(pattern=PERSON_NAME, description="the person's name")
    edit_id: str | None = Field(None, **IDENTIFIER, description="idempotency key (default: a new one)")


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
    kind: Literal["agent", "human"] = "agent"
    agent_id: str = Field(description="the agent, or the person's name for a human version")
    op: EditOp | None = Field(None, description="the agent's anchored change (none for a person's version)")
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
    reserved: int = Field(0, description="tokens held by open reservations")
    remaining: int = Field(description="limit - spent - reserved")
    exhausted: bool = Field(description="spent reached the limit, or a request was refused for lack of budget")
    free_by_node: dict[str, int] = Field(
        default_factory=dict, description="node -> rights it holds unreserved (its escrow share), as this node sees it"
    )


class ReserveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reservation_id: str = Identifier
    agent_id: str = Identifier
    tokens: int = Field(ge=1, le=MAX_TOKENS, description="an upper bound of what the call will use")
    ttl_seconds: float | None = Field(None, gt=0, le=86_400, description="released after this unless settled")


class ReservationGranted(BaseModel):
    reservation_id: str
    granted: Literal[True] = True
    tokens: int
    expires_at: datetime
    node_id: str = Field(description="the node holding the reservation (its owner)")


class SettleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reservation_id: str = Identifier
    tokens: TokenCount = Field(description="what the call really used")


class ForwardedSettle(SettleRequest):
    """A settle a node passes to the reservation's node (internal route), with the
    agent whose own token sent it, so that node can check the reservation is theirs."""

    settler: str | None = Field(None, description="the agent whose token sent the settle; none: the session's")


class Settlement(BaseModel):
    reservation_id: str
    state: Literal["settled", "pending"] = Field(
        description="pending: the owner node was unreachable; it applies the settle when it sees it"
    )
    tokens: int = Field(description="tokens recorded as spent (pending: to be recorded)")
    released: int = Field(0, description="reserved tokens given back")
    unrecorded: int = Field(0, description="tokens beyond the reservation that no free rights covered")


class PeerStatus(BaseModel):
    url: str
    node_id: str | None
    reachable: bool
    last_success: datetime | None
    last_error: str | None
    peer_lacks_edits: int | None = Field(description="edits we hold that the peer lacks")
    we_lack_edits: int | None = Field(description="edits the peer holds that we lack")
    lag_seconds: float = Field(description="how long we have lacked the peer's edits")


def text_digest(text: str | bytes) -> str:
    """What `Replication.text_digest` holds for a text (equal texts, equal digests)."""
    return hashlib.blake2b(text.encode() if isinstance(text, str) else text, digest_size=8).hexdigest()


class Replication(BaseModel):
    node_id: str
    version: int
    text_digest: str = Field(
        description="a digest of the current text (`text_digest`): it changes with the text, also when a "
        "person types on in the latest version, which leaves the version number as it is"
    )
    history_complete: bool = Field(
        description="every version's text can be served (false while deltas of a catch-up are being computed)"
    )
    generation: int = Field(0, description="the document generation (restarted from its text every so many edits)")
    frozen: bool = Field(False, description="writes wait: the nodes are starting the next generation")
    peers: list[PeerStatus]


# --- internal replication routes (node to node) ---


class LogRecord(BaseModel):
    """One CRDT update in a node's log: an edit or a spend as its origin made it, a
    `sync` record (a state-vector diff fetched to repair a replica) or a person's
    `text` change that continues their latest version."""

    seq: Position
    kind: Literal["edit", "spend", "sync", "text"]
    record_id: StorableText = Field(max_length=200)
    origin: StorableText = Field(max_length=200)
    update: Base64Text = Field(description="base64 of the CRDT update")
    generation: int = Field(0, ge=0, le=2**31 - 1, description="the document generation it belongs to")


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
    generation: int = Field(0, ge=0, le=2**31 - 1, description="the caller's document generation")


class SyncResponse(BaseModel):
    node_id: str
    epoch: str
    state_vector: str
    you_lack_edits: int = Field(description="0 when the caller is in another generation")
    generation: int = Field(0, description="this node's document generation")
    frozen: bool = Field(False, description="taking no writes until the next generation")
    next_digest: str | None = Field(None, description="when frozen: the digest of the generation it would start")
    generation_digests: list[str] = Field(
        default_factory=list, description="the digest of each generation after the first, in order")


class TransferRequest(BaseModel):
    """A node that ran short of budget rights asks a peer for some."""

    genesis: str
    writer: str = Field(description="the asking node's ledger writer")
    tokens: int = Field(ge=1)


class TransferResponse(BaseModel):
    node_id: str
    epoch: str
    tokens: int = Field(description="rights given (0: none to spare)")
    record: LogRecord | None = Field(None, description="the ledger entry that gives them, to apply at once")


class DiffResponse(BaseModel):
    node_id: str
    generation: int = 0
    update: str = Field(description="base64 CRDT update with everything the caller lacks")
