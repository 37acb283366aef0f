"""Model calls through the official `openai` client, against any OpenAI-compatible
server: structured output negotiated with the server, every call bounded, the
server's refusals and rate limits honoured.

Structured output: the first call tries the strongest form of `response_format`
(see OutputForm) and steps down while the server refuses one (a 4xx, or the 500
that llama-cpp-python 0.3.36 answers to `json_schema`); the form it accepts is kept
for the life of the process and logged once (`structured_output`). A server that
refuses `temperature`, or `max_tokens` in favour of `max_completion_tokens` (OpenAI's
reasoning models), is asked again without it, for good.

Bounds: each call carries its phase's `max_tokens` and the client's timeout, and its
prompt is complete before it is sent (`Prompt.max_total_tokens` is the most it can
cost). Retries: rate limits, 5xx and network errors back off 1, 2, 4, 8 s, or as
long as the server's Retry-After asks (at most a minute). The agent retries, not the
openai client (`max_retries=0`): every attempt passes `before_attempt` (its
budget reservation) and then `after_attempt` (its usage, None if it failed)."""

import email.utils
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import openai
import structlog
from openai.types.shared_params import (
    ResponseFormatJSONObject,
    ResponseFormatJSONSchema,
)
from opentelemetry import propagate
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from coedit.agent.prompts import Prompt
from coedit.common.client import backoff
from coedit.common.tokens import estimate_tokens

log = structlog.get_logger("coedit.agent")

# A 429 from the provider is a rate limit (back off), never the session's budget.
RETRYABLE = (openai.RateLimitError, openai.APIConnectionError, openai.InternalServerError)
ATTEMPTS = 5  # the first try and four waits: 1, 2, 4, 8 s
MAX_RETRY_AFTER = 60.0  # seconds; a longer Retry-After is cut to this
TEMPERATURE = 0.7


class OutputForm(StrEnum):
    """How a reply's JSON schema is asked for, strongest first."""

    JSON_SCHEMA = "json_schema"  # OpenAI, vLLM, Ollama, ...: strict schema
    JSON_OBJECT_SCHEMA = "json_object+schema"  # llama.cpp's servers: a grammar from the schema
    JSON_OBJECT = "json_object"  # some JSON object; its shape is the prompt's business
    TEXT = "text"  # no response_format: the tolerant parser alone


def response_format(form: OutputForm, prompt: Prompt) -> dict | None:
    match form:
        case OutputForm.JSON_SCHEMA:
            return ResponseFormatJSONSchema(type="json_schema", json_schema={
                "name": f"{prompt.phase.value}_reply", "schema": prompt.schema(), "strict": True})
        case OutputForm.JSON_OBJECT_SCHEMA:
            return {"type": "json_object", "schema": prompt.schema(lengths=True)}
        case OutputForm.JSON_OBJECT:
            return ResponseFormatJSONObject(type="json_object")
    return None


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked to wait (`retry-after-ms`, or `retry-after` in
    seconds or as an HTTP date), at most MAX_RETRY_AFTER; None if it did not say."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    seconds = None
    try:
        if "retry-after-ms" in headers:
            seconds = float(headers["retry-after-ms"]) / 1000
        elif "retry-after" in headers:
            seconds = float(headers["retry-after"])
    except ValueError:
        when = email.utils.parsedate_to_datetime(headers["retry-after"]) if "retry-after" in headers else None
        if when is not None:
            seconds = (when - datetime.now(UTC)).total_seconds()
    return None if seconds is None else min(max(seconds, 0.0), MAX_RETRY_AFTER)


class _RetryAfterOrBackoff:
    def __init__(self):
        self.backoff = backoff()

    def __call__(self, state: RetryCallState) -> float:
        asked = retry_after(state.outcome.exception() if state.outcome else None)
        return self.backoff(state) if asked is None else asked


def retrying(sleep: Callable[[float], Awaitable[None]] | None = None) -> AsyncRetrying:
    """The services' backoff (coedit.common.client), unless the model says how long."""
    extra = {} if sleep is None else {"sleep": sleep}
    return AsyncRetrying(
        wait=_RetryAfterOrBackoff(), stop=stop_after_attempt(ATTEMPTS),
        retry=retry_if_exception_type(RETRYABLE), reraise=True, **extra,
    )


@dataclass(frozen=True)
class Completion:
    content: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    truncated: bool = False  # the answer reached max_tokens

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _refuses(exc: openai.APIStatusError, parameter: str) -> bool:
    return exc.status_code == 400 and parameter in str(exc.message)


class LLM:
    """`complete(prompt)` -> Completion; retries rate limits, 5xx and network
    errors with backoff, then lets the last error through."""

    def __init__(self, client: openai.AsyncOpenAI, model: str,
                 before_attempt: Callable[[Prompt], Awaitable[None]] | None = None,
                 after_attempt: Callable[[Prompt, Completion | None], None] | None = None,
                 sleep: Callable[[float], Awaitable[None]] | None = None):
        self.client, self.model = client, model
        self.before_attempt, self.after_attempt, self.sleep = before_attempt, after_attempt, sleep
        self.untried = list(OutputForm)  # the forms still to try, until one is accepted
        self.form: OutputForm | None = None  # the form the server accepted
        self.temperature: float | None = TEMPERATURE  # None once the server refuses it
        self.limit_parameter = "max_tokens"

    async def complete(self, prompt: Prompt) -> Completion:
        async for attempt in retrying(self.sleep):
            with attempt:
                if self.before_attempt is not None:
                    await self.before_attempt(prompt)
                completion = None
                try:
                    completion = await self._once(prompt)
                finally:  # also on a failure or a cancel: the attempt's reservation is settled
                    if self.after_attempt is not None:
                        self.after_attempt(prompt, completion)
                return completion

    def _request(self, prompt: Prompt, form: OutputForm) -> dict:
        request = {"model": self.model, "messages": prompt.messages, self.limit_parameter: prompt.max_tokens}
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if (wanted := response_format(form, prompt)) is not None:
            request["response_format"] = wanted
        return request

    async def _once(self, prompt: Prompt) -> Completion:
        trace_headers: dict[str, str] = {}
        propagate.inject(trace_headers)  # the client's own HTTP stack is not instrumented
        while True:
            form = self.form or self.untried[0]
            started = time.perf_counter()
            try:
                response = await self.client.chat.completions.create(
                    **self._request(prompt, form), extra_headers=trace_headers)
            except openai.APIStatusError as exc:
                if not self._adapt(exc, form):
                    raise
                continue
            if self.form is None:
                self.form = form
                refused = [f.value for f in OutputForm if f not in self.untried]
                log.info("structured_output", form=form.value, refused=refused, model=self.model)
            return self._completion(response, prompt, (time.perf_counter() - started) * 1000)

    def _adapt(self, exc: openai.APIStatusError, form: OutputForm) -> bool:
        """Change the request to suit a server that refused it; False if nothing can."""
        if self.temperature is not None and _refuses(exc, "temperature"):
            self.temperature = None
            log.info("temperature_refused", model=self.model)
            return True
        if self.limit_parameter == "max_tokens" and _refuses(exc, "max_completion_tokens"):
            self.limit_parameter = "max_completion_tokens"
            log.info("max_tokens_refused", model=self.model, using="max_completion_tokens")
            return True
        refusal = exc.status_code in (400, 422, 500, 501)
        if self.form is None and form is not OutputForm.TEXT and refusal:
            log.info("response_format_refused", form=form.value, status=exc.status_code,
                     error=str(exc.message)[:200])
            self.untried.pop(0)
            return True
        return False

    @staticmethod
    def _completion(response, prompt: Prompt, latency_ms: float) -> Completion:
        choice = response.choices[0] if response.choices else None
        content = (choice.message.content if choice else None) or ""
        truncated = choice is not None and choice.finish_reason == "length"
        usage = response.usage
        if usage is None:  # some compatible servers do not count; estimate like they would
            return Completion(content, prompt.prompt_tokens, estimate_tokens(content), latency_ms, truncated)
        return Completion(content, usage.prompt_tokens, usage.completion_tokens or 0, latency_ms, truncated)
