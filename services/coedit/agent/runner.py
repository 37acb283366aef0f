"""`coedit agent`: wait for the services, then edit until the budget (or
`--max-edits`) ends. Exit code 0 for a clean stop (budget spent, edits done,
SIGTERM), 1 when the services never came up or the model refuses us for good."""

import asyncio
import logging
import random
import signal
import sys
import time
from dataclasses import replace

import httpx
import openai
import structlog
from opentelemetry import trace
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay

from coedit.agent.agent import Agent
from coedit.agent.cycle import EditCycle
from coedit.agent.llm import RETRYABLE
from coedit.agent.prompts import detect_language
from coedit.agent.settings import AgentSettings
from coedit.analytics import models as events
from coedit.common.client import backoff
from coedit.common.logging import configure_logging
from coedit.common.tracing import init_tracing, shutdown_tracing
from coedit.text_node.client import BudgetExhausted, Refused, Unavailable

log = structlog.get_logger("coedit.agent")
tracer = trace.get_tracer("coedit.agent")


async def wait_for_services(agent: Agent, timeout: float, sleep=None) -> bool:
    """Back off (1, 2, 4, 8, 8 ... s) until every service is ready, so an agent
    started before them waits instead of crash-looping."""
    services = {"text node": agent.text, "chat": agent.chat, "analytics": agent.analytics}
    extra = {} if sleep is None else {"sleep": sleep}
    retrying = AsyncRetrying(wait=backoff(), stop=stop_after_delay(timeout),
                             retry=retry_if_exception_type(Unavailable), reraise=True, **extra)
    try:
        async for attempt in retrying:
            with attempt:
                missing = [name for name, s in services.items() if not await s.ready()]
                if missing:
                    log.info("waiting_for_services", missing=missing)
                    raise Unavailable(", ".join(missing))
    except Unavailable:
        return False
    return True


async def run_agent(agent: Agent, sleep=None) -> int:
    settings = agent.settings
    if not await wait_for_services(agent, settings.startup_timeout, sleep):
        log.error("services_not_ready", timeout=settings.startup_timeout)
        return 1
    if settings.language == "auto":
        text = (await agent.text.document()).text
        agent.author = replace(agent.author, language=detect_language(text))
    agent.event(events.AgentStarted)
    started = time.perf_counter()
    await agent.analytics.flush()
    applied, number, code, reason = 0, 0, 0, "max_edits reached"
    cycle = None
    pause = agent.pause
    try:
        await pause(random.uniform(0, settings.start_spread))
        while not settings.max_edits or applied < settings.max_edits:
            number += 1
            cycle = EditCycle(agent, number)
            # one trace per edit: model calls, text node (and its replication), chat, analytics
            with tracer.start_as_current_span(
                "agent.edit_cycle", attributes={"coedit.agent_id": agent.id, "coedit.cycle": number}
            ) as span:
                try:
                    outcome = await cycle.run()
                except (Unavailable, Refused, httpx.HTTPError, *RETRYABLE) as exc:
                    log.warning("cycle_failed", cycle=number, error=repr(exc))
                    span.record_exception(exc)
                    await _release(cycle, f"gave up: {type(exc).__name__}")
                    await pause(1)
                    continue
                span.set_attribute("coedit.applied", outcome.applied)
                applied += outcome.applied
                await agent.analytics.flush()
            if outcome.busy:  # others hold every place: wait for one, minding the budget
                await agent.check_budget()
                await pause(random.uniform(0.2, 1.0))
            elif outcome.contended:  # agents that collided spread out before trying again
                await pause(random.uniform(0.5, 2.0))
    except BudgetExhausted:
        reason = "budget_exhausted"
        await _release(cycle, "the token budget is spent")
        agent.event(events.BudgetExhausted)
    except asyncio.CancelledError:
        reason = "terminated"
        await _release(cycle, "the agent was stopped")
    except openai.APIError as exc:  # not retryable: a wrong key, model or URL
        code, reason = 1, f"model error: {exc}"[:2000]
        await _release(cycle, "the model refused the request")
    await _settle_last(agent)
    agent.event(events.AgentStopped, reason=reason)
    log.info("agent_stopped", reason=reason, applied=applied, cycles=number,
             llm_calls=agent.llm_calls, llm_ms=round(agent.llm_ms, 1), paused_ms=round(agent.paused_ms, 1),
             busy_ms=round((time.perf_counter() - started) * 1000, 1))
    await agent.analytics.flush()
    return code


async def _settle_last(agent: Agent) -> None:
    """Whatever the stop, the tokens already used go to the ledger and analytics."""
    try:
        await agent.settle()
    except BudgetExhausted:
        pass
    except Exception as exc:  # best effort: the services may be gone
        log.warning("settle_failed", pending=len(agent.unsettled), error=repr(exc))


async def _release(cycle: EditCycle | None, reason: str) -> None:
    if cycle is None:
        return
    try:
        await cycle.release(reason)
    except Exception as exc:  # best effort: the chat's lease expires the intent anyway
        log.warning("release_failed", error=repr(exc))


async def main(settings: AgentSettings) -> int:
    configure_logging("agent", settings.log_level)
    logging.getLogger("openai").setLevel(logging.WARNING)
    init_tracing("coedit-agent")
    structlog.contextvars.bind_contextvars(agent_id=settings.agent_id)
    task = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "unused"
    timeout = httpx.Timeout(30.0, connect=5.0)
    async with (
        httpx.AsyncClient(timeout=timeout) as http,
        openai.AsyncOpenAI(base_url=settings.llm_base_url, api_key=key,
                           timeout=settings.llm_timeout, max_retries=0) as model,
    ):
        try:
            return await run_agent(Agent(settings, http, model))
        finally:
            shutdown_tracing()


def run(settings: AgentSettings) -> None:
    sys.exit(asyncio.run(main(settings)))
