"""The analytics client against the real service: events in, reports out, the outbox."""

from datetime import timedelta

import pytest
from coedit.analytics.client import AnalyticsClient, Refused
from coedit.analytics.models import EditApplied, LlmCall
from coedit.local.servers import free_port

from tests.conftest import AUTH_TOKEN


def call(n: int, era, agent: str = "ada") -> LlmCall:
    return LlmCall(event_id=f"client-{era.timestamp()}-{n}", agent_id=agent, ts=era, phase="generate",
                   model="fake", prompt_tokens=10, completion_tokens=5, latency_ms=100.0)


async def test_events_in_and_reports_out_are_typed(shared_analytics, era):
    async with AnalyticsClient(shared_analytics.url, token=AUTH_TOKEN, timeout=30) as client:
        events = [call(1, era), call(2, era, "bob"),
                  EditApplied(event_id=f"client-{era.timestamp()}-e", agent_id="ada", ts=era, version=1)]
        assert (await client.post_events(events)).accepted == 3
        assert (await client.post_events(events[:1])).duplicates == 1
        end = era + timedelta(seconds=1)
        summary = await client.summary("1h", end=end)
        assert (summary.llm_calls, summary.tokens, summary.edits_applied, summary.active_agents) == (2, 30, 1, 2)
        assert sum(b.llm_calls for b in (await client.timeseries("1h", "5m", end=end)).buckets) == 2
        assert {a.agent_id for a in (await client.agents("1h", end=end)).agents} == {"ada", "bob"}


async def test_the_outbox_keeps_events_while_analytics_is_away(shared_analytics, era):
    async with AnalyticsClient(f"http://127.0.0.1:{free_port()}", token=AUTH_TOKEN, timeout=2) as away:
        away.record(call(1, era))
        assert await away.flush() is False and len(away.outbox) == 1
        async with AnalyticsClient(shared_analytics.url, token=AUTH_TOKEN, timeout=30, http=away.http) as back:
            back.outbox = away.outbox
            assert await back.flush() is True and back.outbox == []
            assert (await back.summary("1h", end=era + timedelta(seconds=1))).llm_calls == 1


async def test_a_refused_batch_is_a_typed_error(shared_analytics, era):
    async with AnalyticsClient(shared_analytics.url, timeout=30) as anonymous:
        with pytest.raises(Refused) as refused:
            await anonymous.post_events([call(1, era)])
        assert (refused.value.status, refused.value.code) == (401, "unauthorized")
