"""What one agent holds across its edits: its peers, its model, its ids, and the
bookkeeping every model call needs (a reservation before, its settle after)."""

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
from coedit.agent.prompts import Author, Prompt, with_people
from coedit.agent.replies import ReplyError, parse_reply
from coedit.agent.settings import AgentSettings
from coedit.analytics import models as events
from coedit.analytics.client import AnalyticsClient
from coedit.chat.client import ChatClient
from coedit.common.agent_protocol import Phase
from coedit.common.client import NotFound
from coedit.common.money import cost_usd
from coedit.text_node.client import BudgetExhausted, TextNodesClient, Unavailable
from coedit.text_node.models import ReserveRequest, SettleRequest

log = structlog.get_logger("coedit.agent")
tracer = trace.get_tracer("coedit.agent")

SERVICE_ATTEMPTS = 6  # rounds over a service's URLs before Unavailable (5 waits: 1, 2, 4, 8, 8 s)
PEOPLE_IN_PROMPT = 5  # the latest people's chat messages every prompt carries
PAUSE_POLL_SECONDS = 1.0
RESERVATION_MARGIN_SECONDS = 60  # a reservation outlives its call's timeout by this much

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
        self.llm = LLM(model_client, settings.model, before_attempt=self.reserve,
                       after_attempt=self.attempted, sleep=self.pause)
        self.author = Author(self.id, settings.persona, settings.topic, settings.language)
        self._serial = itertools.count(1)
        self.reservation: ReserveRequest | None = None  # the attempt under way holds it
        # attempts made, not yet settled: (reservation, phase, completion; None: failed, no usage)
        self.unsettled: list[tuple[ReserveRequest, Phase, Completion | None]] = []
        self.authors_seen = {self.id}  # every agent met in the open intents: how many share the text
        # for the stop log line (bench.agents reads it)
        self.llm_calls, self.llm_ms, self.paused_ms = 0, 0.0, 0.0
        self.paused_by_people = False

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
        """While waiting for a free place: settle earlier calls, stop if the budget is spent."""
        await self.settle()
        if (await self.text.budget()).exhausted:
            raise BudgetExhausted("the session's token budget is spent")

    async def reserve(self, prompt: Prompt) -> None:
        """Before every model call attempt: settle earlier ones, then hold the most
        this one can cost (`prompt.max_total_tokens`) under a fresh id (the client's
        retries repeat the same request: idempotent). BudgetExhausted (429) when
        the budget cannot cover it; a 503 `budget_unavailable` is retried with
        backoff by the client, then Unavailable (the cycle gives up and starts over)."""
        await self.settle()
        reservation = ReserveRequest(
            reservation_id=self.new_id("res"), agent_id=self.id, tokens=prompt.max_total_tokens,
            ttl_seconds=self.settings.llm_timeout + RESERVATION_MARGIN_SECONDS,
        )
        await self.text.reserve(reservation)
        self.reservation = reservation

    def attempted(self, prompt: Prompt, completion: Completion | None) -> None:
        """After every attempt (None: it failed, nothing was reported used): its
        reservation waits to be settled."""
        if self.reservation is not None:
            self.unsettled.append((self.reservation, prompt.phase, completion))
            self.reservation = None

    async def settle(self) -> None:
        """Settle each attempt's reservation with the tokens the API reported (0 for
        a failed call: all of it is released); that settle is the call's charge.
        Then an `llm_call` event with the same tokens and their cost, so analytics
        and the ledger count the same. A settle that no node can take now stays for
        the next call (the reservation stays counted meanwhile).

        Usage above the reservation means the bound did not hold (it does for the
        tokenizers coedit.common.tokens names): it is settled as reported, the node
        charges the excess only from rights still free (never past the limit), and
        the event says how much was unreserved, so analytics counts it as such."""
        while self.unsettled:
            reservation, phase, completion = self.unsettled[0]
            tokens = completion.tokens if completion else 0
            unreserved = max(tokens - reservation.tokens, 0)
            if unreserved:
                log.warning("usage_over_reservation", reservation_id=reservation.reservation_id,
                            reserved=reservation.tokens, tokens=tokens)
            try:
                settlement = await self.text.settle(
                    SettleRequest(reservation_id=reservation.reservation_id, tokens=tokens))
                if settlement.unrecorded:
                    log.warning("settle_unrecorded", reservation_id=reservation.reservation_id,
                                tokens=settlement.unrecorded)
            except NotFound:  # expired and released before the settle: nothing holds it now
                log.warning("reservation_not_found", reservation_id=reservation.reservation_id, tokens=tokens)
            except Unavailable:
                break
            self.unsettled.pop(0)
            if completion is not None:
                self.call_event(phase, completion, reservation.tokens, unreserved)

    def call_event(self, phase: Phase, completion: Completion, reserved: int, unreserved: int) -> None:
        prices = (self.settings.price_input, self.settings.price_output)
        cost = cost_usd(completion.prompt_tokens, completion.completion_tokens, *prices) if any(prices) else None
        self.event(
            events.LlmCall, phase=phase.value, model=self.settings.model,
            prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
            latency_ms=round(completion.latency_ms, 3), cost_usd=cost,
            reserved_tokens=reserved, unreserved_tokens=unreserved or None,
        )

    async def wait_while_paused(self) -> None:
        """Before every model call and every edit: people may have paused the session."""
        while (await self.chat.session()).paused:
            if not self.paused_by_people:
                log.info("session_paused")
            self.paused_by_people = True
            await self.pause(PAUSE_POLL_SECONDS)
        if self.paused_by_people:
            log.info("session_resumed")
        self.paused_by_people = False

    async def ask(self, prompt: Prompt) -> tuple[BaseModel, Completion]:
        """One phase's reply (and the completion it came in), with what people said
        lately in the prompt. A broken answer is repaired; one that cannot be is asked
        again once with a reminder; then ReplyError."""
        await self.wait_while_paused()
        people = [{"name": m.agent_id, "text": m.text} for m in await self.chat.people_messages(PEOPLE_IN_PROMPT)]
        prompt = with_people(prompt, people, self.author.language)
        phase = prompt.phase
        for last in (False, True):
            attributes = {"gen_ai.request.model": self.settings.model,
                          "gen_ai.request.max_tokens": prompt.max_tokens}
            with tracer.start_as_current_span(f"llm.{phase.value}", attributes=attributes) as span:
                completion = await self.llm.complete(prompt)
                span.set_attributes({"gen_ai.usage.input_tokens": completion.prompt_tokens,
                                     "gen_ai.usage.output_tokens": completion.completion_tokens})
            self.llm_calls, self.llm_ms = self.llm_calls + 1, self.llm_ms + completion.latency_ms
            await self.settle()
            log.debug("model_call", phase=phase.value, prompt_tokens=completion.prompt_tokens,
                      prompt_tokens_estimated=prompt.prompt_tokens, completion_tokens=completion.completion_tokens,
                      max_tokens=prompt.max_tokens, truncated=completion.truncated,
                      form=self.llm.form and self.llm.form.value, ms=round(completion.latency_ms))
            try:
                return parse_reply(phase, completion.content, prompt.lines), completion
            except ReplyError as exc:
                log.warning("bad_reply", phase=phase.value, error=str(exc)[:300], final=last)
                if last:
                    raise
                prompt = prompt.followed_by({"role": "user", "content": REMINDER[self.author.language]})
