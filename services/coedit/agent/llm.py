"""Model calls through the official `openai` client, against any OpenAI-compatible
server, with the agent's own backoff (the client's built-in retries are off)."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import openai
from opentelemetry import propagate

from coedit.common.client import retrying
from coedit.common.tokens import estimate_tokens

# A 429 from the provider is a rate limit (back off), never the session's budget.
RETRYABLE = (openai.RateLimitError, openai.APIConnectionError, openai.InternalServerError)
ATTEMPTS = 5  # the first try and four waits: 1, 2, 4, 8 s


@dataclass(frozen=True)
class Completion:
    content: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LLM:
    """`complete(messages)` -> Completion; retries rate limits, 5xx and network
    errors with backoff, then lets the last error through."""

    def __init__(self, client: openai.AsyncOpenAI, model: str,
                 before_attempt: Callable[[], Awaitable[None]] | None = None,
                 sleep: Callable[[float], Awaitable[None]] | None = None):
        self.client, self.model = client, model
        self.before_attempt, self.sleep = before_attempt, sleep
        self.json_mode = True  # dropped for good if the server refuses `response_format`

    async def complete(self, messages: list[dict]) -> Completion:
        async for attempt in retrying(self.sleep, ATTEMPTS, RETRYABLE):
            with attempt:
                if self.before_attempt is not None:
                    await self.before_attempt()
                return await self._once(messages)

    async def _once(self, messages: list[dict]) -> Completion:
        extra = {"response_format": {"type": "json_object"}} if self.json_mode else {}
        trace_headers: dict[str, str] = {}
        propagate.inject(trace_headers)  # the client's own HTTP stack is not instrumented
        started = time.perf_counter()
        try:
            response = await self.client.chat.completions.create(
                model=self.model, messages=messages, temperature=0.7, extra_headers=trace_headers, **extra
            )
        except openai.BadRequestError as exc:
            if not self.json_mode or "response_format" not in str(exc):
                raise
            self.json_mode = False
            return await self._once(messages)
        latency_ms = (time.perf_counter() - started) * 1000
        content = (response.choices[0].message.content if response.choices else None) or ""
        usage = response.usage
        if usage is None:  # some compatible servers do not count; estimate like they would
            prompt = sum(estimate_tokens(m["content"]) + 4 for m in messages) + 3
            return Completion(content, prompt, estimate_tokens(content), latency_ms)
        return Completion(content, usage.prompt_tokens, usage.completion_tokens or 0, latency_ms)
