"""A model's answer as the phase's reply model, tolerant of how models really
answer when nothing constrains them: prose around the JSON, code fences, single
quotes, trailing commas, rambling after the object, a wrapper object, synonyms for
keys and for yes/no, `"[3]"` for a sentence number, or the sentence's text copied
instead of its number."""

import difflib
import json
import re

from json_repair import repair_json
from pydantic import BaseModel, ValidationError

from coedit.common.agent_protocol import REPLY_MODELS, Phase


class ReplyError(ValueError):
    """The answer holds no usable reply for the phase, even after repair."""


SYNONYMS = {
    "sentence": ("sentence", "sentence_number", "number", "index", "n", "id"),
    "summary": ("summary", "intent", "description", "change"),
    "confirm": ("confirm", "confirmed", "ok", "proceed", "decision"),
    "approve": ("approve", "approved", "ok", "accept", "decision"),
    "reason": ("reason", "reasoning", "comment", "explanation"),
    "type": ("type", "op", "operation", "action"),
    "text": ("text", "new_text", "content"),
}
ANCHOR_KEYS = ("anchor", "place", "target")  # a copied sentence instead of its number

_YES = {"yes", "true", "approve", "approved", "confirm", "confirmed", "accept", "ok", "да", "одобрено"}
_NO = {"no", "false", "reject", "rejected", "cancel", "cancelled", "decline", "нет", "отклонено"}


def _load(content: str):
    """The first JSON value in the answer: exact, then after prose, then repaired."""
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        pass
    start = content.find("{")
    if start >= 0:
        try:  # a complete object followed by rambling
            return json.JSONDecoder().raw_decode(content[start:])[0]
        except json.JSONDecodeError:
            pass
    return repair_json(content, return_objects=True)


def _unwrap(data):
    """`[{...}]` -> `{...}`; `{"review": {...}}` -> `{...}`."""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if isinstance(data, dict) and len(data) == 1:
        (inner,) = data.values()
        if isinstance(inner, dict):
            return inner
    return data


def _verdict(value):
    if isinstance(value, str):
        word = value.strip().strip(".!").lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
    return value


def _number(value):
    if isinstance(value, str) and (match := re.fullmatch(r"\s*\[?\s*(\d+)\s*\]?\.?\s*", value)):
        return int(match.group(1))
    return value


def _canonical(phase: Phase, data: dict, sentences: list[str]) -> dict:
    fields = REPLY_MODELS[phase].model_fields
    lowered = {str(k).lower(): v for k, v in data.items()}
    found = {}
    for name in fields:
        key = next((k for k in SYNONYMS.get(name, (name,)) if k in lowered), None)
        if key is not None:
            found[name] = lowered[key]
    if "sentence" in fields:
        if "sentence" not in found:
            anchor = next((lowered[k] for k in ANCHOR_KEYS if isinstance(lowered.get(k), str)), None)
            if anchor is not None:
                close = difflib.get_close_matches(anchor.strip(), sentences, n=1, cutoff=0.8)
                found["sentence"] = sentences.index(close[0]) + 1 if close else None
        found["sentence"] = _number(found.get("sentence"))
    for verdict in ("confirm", "approve"):
        if verdict in found:
            found[verdict] = _verdict(found[verdict])
    for optional in ("summary", "reason", "text"):
        if optional in fields:
            found.setdefault(optional, "")
    return found


def parse_reply(phase: Phase, content: str | None, sentences: list[str]) -> BaseModel:
    """`sentences`: the excerpt the model was shown, in the order it was numbered."""
    data = _unwrap(_load(content or ""))
    if not isinstance(data, dict):
        raise ReplyError(f"{phase} reply is not a JSON object: {(content or '')[:200]!r}")
    data = _canonical(phase, data, sentences)
    try:
        reply = REPLY_MODELS[phase].model_validate(data)
    except ValidationError as exc:
        raise ReplyError(f"{phase} reply does not fit: {exc.errors(include_url=False)}") from exc
    number = getattr(reply, "sentence", None)
    if number is not None and not 1 <= number <= len(sentences):
        raise ReplyError(f"{phase} reply names sentence {number}; the excerpt has {len(sentences)}")
    return reply
