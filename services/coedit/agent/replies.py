"""A model's answer as the phase's reply model, tolerant of how models really
answer: prose around the JSON, code fences, single quotes, trailing commas, a
wrapper object, synonyms for keys and for yes/no."""

import json

from json_repair import repair_json
from pydantic import BaseModel, ValidationError

from coedit.agent.protocol import REPLY_MODELS, Phase


class ReplyError(ValueError):
    """The answer holds no usable reply for the phase, even after repair."""


def _load(content: str):
    try:
        return json.loads(content)
    except json.JSONDecodeError:
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


def parse_reply(phase: Phase, content: str | None) -> BaseModel:
    data = _unwrap(_load(content or ""))
    if not isinstance(data, dict):
        raise ReplyError(f"{phase} reply is not a JSON object: {(content or '')[:200]!r}")
    try:
        return REPLY_MODELS[phase].model_validate(data)
    except ValidationError as exc:
        raise ReplyError(f"{phase} reply does not fit: {exc.errors(include_url=False)}") from exc
