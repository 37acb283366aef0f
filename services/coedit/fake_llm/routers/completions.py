"""`/v1/models` and non-streaming `/v1/chat/completions`, with usage counted like the
real API and injected faults."""

import asyncio
import hashlib
import json
import random
import time
from collections import Counter

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from coedit.common.tokens import estimate_tokens
from coedit.fake_llm.models import CompletionRequest
from coedit.fake_llm.responder import answer, corrupt
from coedit.fake_llm.settings import FakeLLMSettings

router = APIRouter(prefix="/v1")


def _error(status: int, message: str, kind: str, code: str | None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status)


def _usage(messages: list[dict], content: str) -> dict:
    prompt = sum(estimate_tokens(m["content"]) + 4 for m in messages) + 3
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
    if faults.random() < settings.error_rate:
        if faults.random() < 0.5:
            return _error(429, "Rate limit reached, retry later", "requests", "rate_limit_exceeded")
        return _error(500, "The server had an error processing your request", "server_error", None)
    content = answer(messages, random.Random(draw))
    if content.startswith("{") and faults.random() < settings.invalid_json_rate:
        content = corrupt(content, faults)
    return {
        "id": f"chatcmpl-{digest[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": _usage(messages, content),
    }
