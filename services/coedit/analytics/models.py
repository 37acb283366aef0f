"""The analytics contract: the events agents and services post to `POST /api/events`
(a pydantic discriminated union on `type`) and the figures the service answers with.
Agents import these models rather than building dicts by hand."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeInt,
    Tag,
    field_validator,
)

from coedit.common.inputs import Storable, TokenCount

MAX_BATCH = 1000
MAX_CLOCK_SKEW = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # before it no event and no window end makes sense
MAX_LATENCY_MS = 86_400_000.0  # a day: sums of many stay far from a float's overflow

Name = Annotated[str, Field(min_length=1, max_length=128), Storable]
Text = Annotated[str, Field(min_length=1, max_length=2000), Storable]
IntentState = Literal["opened", "confirmed", "cancelled", "applied"]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    event_id: Name = Field(description="idempotency key: an event posted twice is stored once")
    agent_id: Name
    ts: AwareDatetime | None = Field(None, description="when it happened (default: on receipt)")

    @field_validator("ts")
    @classmethod
    def _not_in_future(cls, ts: datetime | None) -> datetime | None:
        if ts is not None and ts > datetime.now(UTC) + MAX_CLOCK_SKEW:
            raise ValueError(f"ts is more than {MAX_CLOCK_SKEW} in the future")
        if ts is not None and ts < EARLIEST:
            raise ValueError(f"ts is before {EARLIEST.date()}")
        return ts


class LlmCall(_Event):
    type: Literal["llm_call"] = "llm_call"
    phase: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="intent, confirm, generate, review, ..."
    )
    model: Name
    prompt_tokens: TokenCount
    completion_tokens: TokenCount
    latency_ms: float = Field(ge=0, le=MAX_LATENCY_MS)
    cost_usd: float | None = Field(
        None, ge=0, le=1e6, allow_inf_nan=False,
        description="what the call cost at the agent's model price (absent: price unknown)",
    )
    reserved_tokens: TokenCount | None = Field(
        None, description="the budget reservation the call was made under (absent: none, e.g. MCP reports)"
    )
    unreserved_tokens: TokenCount | None = Field(
        None, description="tokens the call used beyond its reservation: the reservation's bound did not hold"
    )


class EditApplied(_Event):
    type: Literal["edit_applied"] = "edit_applied"
    edit_id: Name | None = None
    version: NonNegativeInt | None = None
    node_id: Name | None = None
    tokens: TokenCount | None = Field(
        None, description="tokens the edit cost (informative; totals count llm_call tokens)"
    )


class EditRejected(_Event):
    type: Literal["edit_rejected"] = "edit_rejected"
    reason: Text = Field(description="e.g. anchor_not_found, anchor_ambiguous, review_failed")
    edit_id: Name | None = None


class Intent(_Event):
    type: Literal["intent"] = "intent"
    intent_id: Name
    status: IntentState


class AgentStarted(_Event):
    type: Literal["agent_started"] = "agent_started"


class AgentStopped(_Event):
    type: Literal["agent_stopped"] = "agent_stopped"
    reason: Text | None = None


class BudgetExhausted(_Event):
    type: Literal["budget_exhausted"] = "budget_exhausted"


Event = Annotated[
    LlmCall | EditApplied | EditRejected | Intent | AgentStarted | AgentStopped | BudgetExhausted,
    Field(discriminator="type"),
]


def _shape(body) -> str:
    return "many" if isinstance(body, list) else "one"


EventsBody = Annotated[
    Annotated[list[Event], Field(max_length=MAX_BATCH), Tag("many")]
    | Annotated[Event, Tag("one")],
    Discriminator(_shape),
]
"""One event or a list of at most MAX_BATCH; a list is stored all or nothing."""


class IngestResult(BaseModel):
    accepted: int = Field(description="events stored by this request")
    duplicates: int = Field(description="events whose event_id was already stored")


class Figures(BaseModel):
    """The collaboration figures of a set of events; rates are null when their
    denominator is 0."""

    tokens: int = Field(description="prompt + completion tokens of llm_call events")
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float = Field(description="sum of the llm_call events' cost_usd (calls without a price count 0)")
    llm_calls: int
    edits_applied: int
    edits_rejected: int
    intents_opened: int
    intents_cancelled: int
    latency_ms_mean: float | None
    tokens_per_applied_edit: float | None
    conflict_rate: float | None = Field(description="rejected / (applied + rejected)")
    cancel_rate: float | None = Field(description="cancelled intents / opened intents")


class Summary(Figures):
    window: str
    start: datetime
    end: datetime
    active_agents: int = Field(description="distinct agents with any event in the window")
    latency_ms_p95: float | None


class Bucket(BaseModel):
    start: datetime
    tokens: int
    cost_usd: float
    llm_calls: int
    edits_applied: int
    edits_rejected: int
    active_agents: int


class Timeseries(BaseModel):
    window: str
    bucket: str
    start: datetime
    end: datetime
    buckets: list[Bucket]


class AgentFigures(Figures):
    agent_id: str
    events: int
    first_seen: datetime
    last_seen: datetime


class Agents(BaseModel):
    window: str
    start: datetime
    end: datetime
    agents: list[AgentFigures]
