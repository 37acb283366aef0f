"""What one agent holds across its edits: its peers, its model, its ids, and the
bookkeeping every model call needs (budget check before, tokens reported after)."""

import asyncio
import itertools
import uuid
import zlib
from datetime import UTC, datetime

import httpx
import openai
import structlog
from opentelemetry import trace
from pydantic import BaseModel

from coedit.agent.llm import LLM, Completion
from coedit.agent.prompts import Author, Messages
from coedit.agent.protocol import Phase
from coedit.agent.replies import ReplyError, parse_reply
from coedit.agent.settings import AgentSettings
from coedit.analytics import models as events
from coedit.analytics.client import AnalyticsClient
from coedit.chat.client import ChatClient
from coedit.text_node.client import BudgetExhausted, TextNodesClient, Unavailable
from coedit.text_node.models import SpendRequest

log = structlog.get_logger("coedit.agent")
tracer = trace.get_tracer("coedit.agent")

SERVICE_ATTEMPTS = 6  # rounds over a service's URLs before Unavailable (5 waits: 1, 2, 4, 8, 8 s)

REMINDER = {
    "en": "Your last answer was not the JSON object asked for. Answer with that JSON object only.",
    "ru": "Твой прошлый ответ не был нужным JSON-объектом. Ответь только этим JSON-объектом.",
}


class Agent:
    def __init__(self, settings: AgentSettings, http: httpx.AsyncClient,
                 model_client: openai.AsyncOpenAI, sleep=None):
        self.settings = settings
        self.id = settings.agent_id
        self.run_id = uuid.uuid4().hex[:8]  # a restarted agent never reuses an id
        self._sleep = asyncio.sleep if sleep is None else sleep
        start = zlib.crc32(self.id.encode())  # agents spread over the text nodes
        peer = {"http": http, "token": settings.auth_token, "sleep": self.pause, "attempts": SERVICE_ATTEMPTS}
        self.text = TextNodesClient(settings.text_node_urls, start=start,
                                    unsure_timeout=settings.unsure_edit_timeout, **peer)
        self.chat = ChatClient(settings.chat_url, **peer)
        self.analytics = AnalyticsClient(settings.analytics_url, **peer)
        self.llm = LLM(model_client, settings.model, before_attempt=self.check_budget, sleep=self.pause)
        self.author = Author(self.id, settings.persona, settings.topic, settings.language)
        self._serial = itertools.count(1)
        self.unsettled: list[tuple[Phase, Completion, str]] = []  # calls not yet in the ledger
        self.authors_seen = {self.id}  # every agent met in the open intents: how many share the text
        # for the stop log line (bench.agents reads it)
        self.llm_calls, self.llm_ms, self.paused_ms = 0, 0.0, 0.0

    async def pause(self, seconds: float) -> None:
        """Every deliberate wait (backoff, start spread, waiting for a free place)."""
        self.paused_ms += seconds * 1000
        await self._sleep(seconds)

    def new_id(self, kind: str) -> str:
        return f"{self.id}:{self.run_id}:{kind}{next(self._serial)}"

    def event(self, kind: type[BaseModel], **fields) -> None:
        self.analytics.record(
            kind(event_id=self.new_id("ev"), agent_id=self.id, ts=datetime.now(UTC), **fields)
        )

    async def check_budget(self) -> None:
        """Before every model call: settle earlier spends, stop if the budget is spent."""
        await self.settle()
        if (await self.text.budget()).exhausted:
            raise BudgetExhausted("the session's token budget is spent")

    async def settle(self) -> None:
        """Record each call's tokens in the ledger, then as an `llm_call` event, so
        analytics and the text service count the same tokens. The ledger records a
        spend even when the budget was already spent (answer 429) and a spend that
        crosses the limit answers `exhausted`: both stop the agent (BudgetExhausted)
        once the call is in both places."""
        exhausted = False
        while self.unsettled:
            phase, completion, spend_id = self.unsettled[0]
            try:
                spend = SpendRequest(spend_id=spend_id, agent_id=self.id, tokens=completion.tokens)
                exhausted = (await self.text.spend(spend)).exhausted
            except BudgetExhausted:
                exhausted = True
            except Unavailable:
                break  # kept for the next call
            self.unsettled.pop(0)
            self.event(
                events.LlmCall, phase=phase.value, model=self.settings.model,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                latency_ms=round(completion.latency_ms, 3),
            )
        if exhausted:
            raise BudgetExhausted("the session's token budget is spent")

    async def ask(self, phase: Phase, messages: Messages) -> BaseModel:
        """One phase's reply. A broken answer is repaired; one that cannot be is
        asked again once with a reminder; then ReplyError."""
        for last in (False, True):
            with tracer.start_as_current_span(f"llm.{phase.value}", attributes={"gen_ai.request.model": self.settings.model}) as span:
                completion = await self.llm.complete(messages)
                span.set_attributes({"gen_ai.usage.input_tokens": completion.prompt_tokens,
                                     "gen_ai.usage.output_tokens": completion.completion_tokens})
            self.llm_calls, self.llm_ms = self.llm_calls + 1, self.llm_ms + completion.latency_ms
            self.unsettled.append((phase, completion, self.new_id("spend")))
            await self.settle()
            try:
                return parse_reply(phase, completion.content)
            except ReplyError as exc:
                log.warning("bad_reply", phase=phase.value, error=str(exc)[:300])
                if last:
                    raise
                messages = [*messages, {"role": "user", "content": REMINDER[self.author.language]}]
