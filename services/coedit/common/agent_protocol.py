"""The agent <-> model conversation, in the open: what the agent sends and what each
phase answers, shared by the agent (`coedit agent`) and the fake model (`coedit
fake-llm`), neither of which imports the other.

A prompt's system message starts with the marker `phase: <name>`; its user message
holds tagged sections: `<document>` shows the excerpt as numbered sentences, one a
line (`[3] The stars were bright.`), so a model answers a sentence *number* and the
agent turns it into the exact anchor. Each phase answers one JSON object, the reply
model below; its JSON schema (with the sentence numbers the model may pick) is what
structured output constrains the answer to."""

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class Phase(StrEnum):
    INTENT = "intent"
    CONFIRM = "confirm"
    GENERATE = "generate"
    REVIEW = "review"


# Sections of the user prompt.
DOCUMENT = "document"  # the excerpt's sentences, numbered from 1
CLAIMED = "claimed"  # JSON list of the other agents' open intents: {agent_id, sentences, summary}
INTENT = "intent"  # JSON of this agent's intent: {sentence, summary, ...}
OPERATION = "operation"  # JSON of the proposed operation
AFTER = "after"  # the excerpt with the operation applied, as plain text
PEOPLE = "people"  # JSON list of the latest people's chat messages ({name, text}), when there are any

_MARKER = re.compile(r"^phase:\s*(\w+)\s*$", re.MULTILINE)
_SENTENCE = re.compile(r"\S[^.!?…]*(?:[.!?…]+[»”\"')]*|$)")
_NUMBERED = re.compile(r"^\[(\d+)\] (.*)$")

Span = tuple[int, int]


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


def sentences(text: str) -> list[Span]:
    """(start, end) of each sentence, trailing blanks excluded."""
    spans = []
    for match in _SENTENCE.finditer(text):
        end = match.start() + len(match.group().rstrip())
        spans.append((match.start(), end))
    return spans


def numbered(lines: list[str]) -> str:
    """`[1] first sentence`, one a line (a sentence's own line breaks become spaces)."""
    return "\n".join(f"[{n}] {' '.join(line.split())}" for n, line in enumerate(lines, 1))


def read_numbered(body: str) -> list[str]:
    """The sentences of a `numbered()` body, in order."""
    return [m.group(2) for line in body.splitlines() if (m := _NUMBERED.match(line))]


def detect_language(text: str) -> str:
    """"ru" when at least a third of the letters are Cyrillic, else "en"."""
    letters = re.findall(r"[^\W\d_]", text)
    cyrillic = sum("а" <= c.lower() <= "я" or c.lower() == "ё" for c in letters)
    return "ru" if letters and cyrillic * 3 >= len(letters) else "en"


# The replies. The choice comes first (a sentence number, a yes or no), the words
# after it: an answer cut off at max_tokens still carries its decision.

OpType = Literal["insert_after", "insert_before", "replace", "delete"]


class IntentReply(BaseModel):
    sentence: int = Field(description="the number of the sentence to improve")
    summary: str = Field(description="the planned change, under 15 words")


class ConfirmReply(BaseModel):
    confirm: bool
    reason: str


class OperationReply(BaseModel):
    type: OpType = Field(description="insert_after or insert_before the sentence, replace it, or delete it")
    sentence: int = Field(description="the number of the sentence the change is made at")
    text: str = Field(description="the new text, at most two sentences; empty for delete")


class ReviewReply(BaseModel):
    approve: bool
    reason: str


REPLY_MODELS: dict[Phase, type[BaseModel]] = {
    Phase.INTENT: IntentReply,
    Phase.CONFIRM: ConfirmReply,
    Phase.GENERATE: OperationReply,
    Phase.REVIEW: ReviewReply,
}


# The longest a reply's words should be (characters); a grammar-constrained model stops there.
MAX_LENGTHS = {"summary": 100, "reason": 100, "text": 400}


def reply_schema(phase: Phase, choices: list[int] | None = None, lengths: bool = False) -> dict:
    """The phase's reply as a strict JSON schema (every property required, no others),
    the sentence number limited to `choices` when given, and with `lengths` each
    string to its MAX_LENGTHS (left out by default: OpenAI's strict mode accepts only
    a subset of JSON Schema; llama.cpp's grammars take maxLength)."""
    schema = REPLY_MODELS[phase].model_json_schema()
    schema["additionalProperties"] = False
    schema["required"] = list(schema["properties"])
    properties = schema["properties"]
    if choices is not None and "sentence" in properties:
        properties["sentence"]["enum"] = list(choices)
    if lengths:
        for name in MAX_LENGTHS.keys() & properties.keys():
            properties[name]["maxLength"] = MAX_LENGTHS[name]
    return schema
