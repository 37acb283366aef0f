"""Model calls: the backoff schedule, and a provider's 429 (a rate limit) told apart
from the text service's 429 (the session's budget)."""

import pytest

from coedit.agent.cycle import EditCycle
from coedit.common.client import backoff
from coedit.agent.runner import run_agent, wait_for_services
from coedit.text_node.client import BudgetExhausted


def test_backoff_is_1_2_4_8_seconds_jittered_and_capped():
    from tenacity import RetryCallState

    wait = backoff()
    waits = []
    for number in range(1, 7):
        state = RetryCallState(None, None, (), {})
        state.attempt_number = number
        waits.append(wait(state))
    for low, actual in zip([1, 2, 4, 8, 8, 8], waits):
        assert low <= actual <= min(low + 1, 8)


async def test_a_provider_429_backs_off_and_the_edit_goes_on(make_agent, peers, model, sleeps):
    model.script["intent"] = [429, 429, 500]
    agent, _ = make_agent()
    outcome = await EditCycle(agent, 1).run()
    assert outcome.applied and model.calls[:4] == ["intent"] * 4
    assert len(sleeps) == 3 and 1 <= sleeps[0] <= 2 and 2 <= sleeps[1] <= 3 and 4 <= sleeps[2] <= 5
    assert not peers.events_of("agent_stopped")


async def test_a_provider_that_keeps_failing_gives_up_the_cycle_not_the_agent(make_agent, peers, model):
    model.script["intent"] = [429] * 5
    agent, _ = make_agent(max_edits=1)
    assert await run_agent(agent) == 0  # the next cycle succeeds
    assert len(peers.edits) == 1 and model.calls[:5] == ["intent"] * 5


async def test_a_wrong_key_or_model_stops_with_exit_code_1(make_agent, peers, model):
    model.script["intent"] = [401]
    agent, _ = make_agent()
    assert await run_agent(agent) == 1
    assert peers.events_of("agent_stopped")[0]["reason"].startswith("model error")


async def test_the_spend_that_crosses_the_limit_stops_the_agent_and_is_counted(make_agent, peers, model):
    peers.budget = 250  # the third call's spend crosses it
    agent, _ = make_agent()
    assert await run_agent(agent) == 0
    assert len(model.calls) == 3 and peers.spent == 330
    billed = sum(e["prompt_tokens"] + e["completion_tokens"] for e in peers.events_of("llm_call"))
    assert billed == peers.spent and peers.events_of("budget_exhausted")


async def test_a_spend_refused_with_429_is_still_counted_in_analytics(make_agent, peers, model):
    agent, _ = make_agent()
    cycle = EditCycle(agent, 1)
    await cycle._read()
    check = agent.llm.before_attempt

    async def others_spend_the_rest_during_the_call():
        await check()
        peers.spends["someone-else"] = peers.budget

    agent.llm.before_attempt = others_spend_the_rest_during_the_call
    with pytest.raises(BudgetExhausted):
        await cycle._intent()
    await agent.analytics.flush()
    assert peers.spent == peers.budget + 110 and len(peers.events_of("llm_call")) == 1


async def test_start_up_waits_for_the_services(make_agent, sleeps):
    agent, router = make_agent()
    router.dead |= {"a", "chat"}
    waited = []

    async def revive_later(seconds):
        waited.append(seconds)
        if len(waited) == 3:
            router.dead.clear()

    assert await wait_for_services(agent, timeout=60, sleep=revive_later)
    assert len(waited) == 3 and 1 <= waited[0] <= 2 and 4 <= waited[2] <= 5
