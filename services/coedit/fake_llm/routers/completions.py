"""`/v1/models` and non-streaming `/v1/chat/completions`, with usage counted like the
real API, `max_tokens` honoured (finish_reason "length"), injected faults, and real
servers' quirks."""

import asyncio
import hashlib
import json
import random
import time
from collections import Counter

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from coedit.common.agent_protocol import detect_language
from coedit.common.tokens import estimate_tokens
from coedit.fake_llm.models import CompletionRequest
from coedit.fake_llm.responder import answer, corrupt, prose, ramble
from coedit.fake_llm.settings import FakeLLMSettings

router = APIRouter(prefix="/v1")


def _error(status: int, message: str, kind: str, code: str | None, headers=None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status, headers)


def _cut(content: str, limit: int | None) -> tuple[str, str]:
    """The content within `limit` tokens (about 4 UTF-8 bytes each), and the finish reason."""
    if limit is None or estimate_tokens(content) <= limit:
        return content, "stop"
    return content.encode()[: limit * 4].decode(errors="ignore"), "length"


def _usage(messages: list[dict], content: str, prompt_bytes_per_token: int) -> dict:
    """As OpenAI counts (3 tokens a message, its role, 3 for the reply), prose at
    `prompt_bytes_per_token` bytes a token."""
    prompt = sum(estimate_tokens(m["content"], prompt_bytes_per_token) + 4 for m in messages) + 3
    completion = estimate_tokens(content)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@router.get("/models")
async def list_models(request: Request):
    name = request.app.state.settings.model
    return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "coedit"}]}


@router.post("/chat/completions")
async def complete(body: CompletionRequest, request: Request):
    settings: FakeLLMSettings = request.app.state.settings
    messages = [{"role": m.role, "content": m.text()} for m in body.messages]
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
    # The first answer to a request depends on the seed and the request alone; asked
    # again, it varies (as sampling does), so a retry can succeed and a cycle that
    # repeats itself does not get the same rejection forever.
    seen: Counter = request.app.state.seen
    seen[digest] += 1
    draw = f"{settings.seed}:{digest}:{seen[digest]}"
    faults = random.Random(draw + ":faults")
    if settings.latency_ms:
        await asyncio.sleep(settings.latency_ms / 1000)
    if body.form in settings.refused_forms:  # as llama-cpp-python 0.3.36 answers json_schema
        return _error(500, f"response_format {body.form} is not supported", "server_error", None)
    if settings.refuse_temperature and body.temperature is not None:
        return _error(400, f"Unsupported value: 'temperature' does not support {body.temperature} "
                      "with this model. Only the default (1) value is supported.",
                      "invalid_request_error", "unsupported_value")
    if faults.random() < settings.error_rate:
        if faults.random() < 0.5:
            return _error(429, "Rate limit reached, retry later", "requests", "rate_limit_exceeded",
                          {"retry-after": "1"})
        return _error(500, "The server had an error processing your request", "server_error", None)
    rng = random.Random(draw)
    content = answer(messages, rng)
    language = detect_language(content)
    if content.startswith("{") and settings.ignore_json_only and body.form is None:
        content = prose(content, language)
    elif content.startswith("{") and faults.random() < settings.invalid_json_rate:
        content = corrupt(content, faults)
    if settings.ramble_tokens:
        content += ramble(language, settings.ramble_tokens, rng)
    content, finish_reason = _cut(content, body.token_limit)
    return {
        "id": f"chatcmpl-{digest[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
        ],
        "usage": _usage(messages, content, settings.prompt_bytes_per_token),
    }
