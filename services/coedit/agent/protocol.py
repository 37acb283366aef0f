"""The machine-readable part of the agent <-> model conversation: phase names, the
`phase: <name>` marker in each system prompt, the tagged sections of the user prompt
and the JSON each phase answers with. A real model reads the marker and the tags as
plain context; the fake model (`coedit fake-llm`) relies on them."""

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, Field


class Phase(StrEnum):
    INTENT = "intent"
    CONFIRM = "confirm"
    GENERATE = "generate"
    REVIEW = "review"


# Sections of the user prompt.
DOCUMENT = "document"  # an excerpt, copied exactly from the current text
CLAIMED = "claimed"  # JSON list of the other agents' open intents
INTENT = "intent"  # JSON of this agent's intent
OPERATION = "operation"  # JSON of the proposed operation
AFTER = "after"  # the excerpt with the operation applied
PEOPLE = "people"  # JSON list of the latest people's chat messages ({name, text}), when there are any

_MARKER = re.compile(r"^phase:\s*(\w+)\s*$", re.MULTILINE)


def phase_marker(phase: Phase) -> str:
    return f"phase: {phase.value}"


def find_phase(system_prompt: str) -> Phase | None:
    match = _MARKER.search(system_prompt)
    if match is None or match.group(1) not in Phase.__members__.values():
        return None
    return Phase(match.group(1))


def section(tag: str, body: str) -> str:
    return f"<{tag}>\n{body}\n</{tag}>"


def read_section(text: str, tag: str) -> str | None:
    """The body of `<tag>...</tag>`, exactly as `section()` wrote it."""
    match = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.DOTALL)
    return None if match is None else match.group(1)


OpType = Literal["insert_after", "insert_before", "replace", "delete", "append"]

_YES = {"yes", "approve", "approved", "confirm", "confirmed", "accept", "ok", "да", "одобрено"}
_NO = {"no", "reject", "rejected", "cancel", "cancelled", "decline", "нет", "отклонено"}


def _verdict(value):
    """Models say yes in many ways: `"approve"`, `"Yes."`, `"да"`; pydantic's lax
    bool parsing handles the rest (`true`, `"true"`, `1`)."""
    if isinstance(value, str):
        word = value.strip().strip(".!").lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
    return value


Verdict = Annotated[bool, BeforeValidator(_verdict)]


class IntentReply(BaseModel):
    anchor: str = Field(min_length=1, validation_alias=AliasChoices("anchor", "place", "target"))
    summary: str = Field(
        "", max_length=500, validation_alias=AliasChoices("summary", "intent", "description")
    )


class ConfirmReply(BaseModel):
    confirm: Verdict = Field(
        validation_alias=AliasChoices("confirm", "confirmed", "ok", "proceed", "decision")
    )
    reason: str = Field("", validation_alias=AliasChoices("reason", "reasoning", "comment"))


class OperationReply(BaseModel):
    type: OpType = Field(validation_alias=AliasChoices("type", "op", "operation", "action"))
    anchor: str = ""
    text: str = Field("", validation_alias=AliasChoices("text", "new_text", "content"))


class ReviewReply(BaseModel):
    approve: Verdict = Field(
        validation_alias=AliasChoices("approve", "approved", "ok", "accept", "decision")
    )
    reason: str = Field("", validation_alias=AliasChoices("reason", "reasoning", "comment"))


REPLY_MODELS: dict[Phase, type[BaseModel]] = {
    Phase.INTENT: IntentReply,
    Phase.CONFIRM: ConfirmReply,
    Phase.GENERATE: OperationReply,
    Phase.REVIEW: ReviewReply,
}
