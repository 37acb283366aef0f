"""Model calls: the backoff schedule and Retry-After, a provider's 429 (a rate limit)
told apart from the text service's 429 (the session's budget), structured output
negotiated with the server, every call bounded."""

import pytest
from coedit.agent.cycle import EditCycle
from coedit.agent.llm import MAX_RETRY_AFTER, OutputForm
from coedit.agent.prompts import MAX_TOKENS
from coedit.agent.runner import run_agent, wait_for_services
from coedit.common.agent_protocol import Phase
from coedit.common.client import backoff
from fastapi.responses import JSONResponse


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
    model.script["intent"] = [429, 429, 503]
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


def billed(peers) -> int:
    return sum(e["prompt_tokens"] + e["completion_tokens"] for e in peers.events_of("llm_call"))


async def test_each_attempt_reserves_its_bound_and_settles_what_the_api_reported(make_agent, peers, model):
    model.script["intent"] = [503]  # a failed attempt: settled with 0, all of it released
    agent, _ = make_agent(max_edits=1, price_input=2.0, price_output=10.0)
    assert await run_agent(agent) == 0
    await agent.analytics.flush()
    calls = peers.events_of("llm_call")
    assert len(peers.settles) == len(model.calls) == len(calls) + 1  # one fresh reservation per attempt
    assert min(peers.settles.values()) == 0 and peers.reserved == 0
    assert peers.spent == billed(peers) > 0  # the settle is the charge, counted once
    for call in calls:
        assert call["cost_usd"] == pytest.approx((call["prompt_tokens"] * 2 + call["completion_tokens"] * 10) / 1e6)


def a_byte_a_token(messages) -> int:
    """The most a byte-level tokenizer counts for the messages in ChatML (Llama 3's headers are fewer)."""
    return sum(len(f"{m['role']}\n{m['content']}\n".encode()) + 2 for m in messages) + 1 + len(b"assistant\n") + 1


async def test_the_reservation_covers_a_tokenizer_that_counts_a_byte_a_token(make_agent, peers, model):
    model.usage = a_byte_a_token  # four times what the old estimate reserved for the prompt
    agent, _ = make_agent(max_edits=1)
    assert await run_agent(agent) == 0
    await agent.analytics.flush()
    calls = peers.events_of("llm_call")
    assert calls and peers.spent == billed(peers) and peers.reserved == 0
    for call in calls:
        assert call["prompt_tokens"] + call["completion_tokens"] <= call["reserved_tokens"]
        assert call["unreserved_tokens"] is None


async def test_usage_past_the_reservation_is_settled_and_counted_as_unreserved(make_agent, peers, model, capsys):
    model.usage = lambda messages: 50_000  # no tokenizer counts so: a bound that did not hold
    agent, _ = make_agent(max_edits=1)
    assert await run_agent(agent) == 0
    await agent.analytics.flush()
    calls = peers.events_of("llm_call")
    assert calls and peers.spent == billed(peers)  # settled as reported; the node caps it at the limit
    for call in calls:
        assert call["unreserved_tokens"] == 50_010 - call["reserved_tokens"] > 0
    assert "usage_over_reservation" in capsys.readouterr().out


async def test_a_reserve_answering_budget_unavailable_backs_off_and_the_edit_goes_on(make_agent, peers, model, sleeps):
    peers.reserves_unavailable = 2  # the rights sit on peers that do not answer, for a while
    agent, _ = make_agent()
    assert (await EditCycle(agent, 1).run()).applied
    assert len(sleeps) == 2 and peers.reserved == 0 and len(peers.settles) == len(model.calls)


async def test_a_reserve_the_budget_cannot_cover_stops_the_agent_within_the_limit(make_agent, peers, model):
    peers.budget = 5_000  # a few calls' bounds
    agent, _ = make_agent()
    assert await run_agent(agent) == 0
    assert model.calls and peers.exhausted and peers.events_of("budget_exhausted")
    assert peers.spent == billed(peers) <= peers.budget and peers.reserved == 0
    assert peers.events_of("llm_call")[0]["cost_usd"] is None  # no price given


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


async def test_retry_after_is_honoured_in_seconds_milliseconds_or_a_date_and_capped(make_agent, model, sleeps):
    model.script["intent"] = [(429, {"retry-after": "7"}), (503, {"retry-after-ms": "250"}),
                              (429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}),
                              (429, {"retry-after": "3600"})]
    agent, _ = make_agent()
    assert (await EditCycle(agent, 1).run()).applied
    assert sleeps == [7.0, 0.25, 0.0, MAX_RETRY_AFTER]


async def test_the_first_call_negotiates_the_strongest_form_the_server_takes_and_keeps_it(make_agent, model):
    model.script["intent"] = [500, 400]  # json_schema (as llama-cpp-python 0.3.36), json_object+schema
    agent, _ = make_agent()
    assert (await EditCycle(agent, 1).run()).applied
    forms = [r.get("response_format", {}).get("type") for r in model.requests]
    assert forms[:3] == ["json_schema", "json_object", "json_object"]
    assert "schema" in model.requests[1]["response_format"] and "schema" not in model.requests[2]["response_format"]
    assert agent.llm.form is OutputForm.JSON_OBJECT
    assert all(r["response_format"] == {"type": "json_object"} for r in model.requests[2:])


async def test_the_schema_names_the_sentences_the_model_may_choose(make_agent, model):
    agent, _ = make_agent()
    assert (await EditCycle(agent, 1).run()).applied
    intent, generate = model.requests[0], model.requests[1]
    schema = intent["response_format"]["json_schema"]
    assert schema["strict"] is True and schema["schema"]["additionalProperties"] is False
    assert schema["schema"]["properties"]["sentence"]["enum"] == [1, 2, 3, 4]
    assert set(schema["schema"]["required"]) == {"sentence", "summary"}
    assert len(generate["response_format"]["json_schema"]["schema"]["properties"]["sentence"]["enum"]) == 1


async def test_every_call_carries_its_phase_max_tokens(make_agent, model):
    agent, _ = make_agent()
    assert (await EditCycle(agent, 1).run()).applied
    assert [r["max_tokens"] for r in model.requests] == [MAX_TOKENS[Phase(c)] for c in model.calls]


async def test_a_server_refusing_temperature_or_max_tokens_is_asked_without_them(make_agent, model):
    refusals = iter([
        "Unsupported value: 'temperature' does not support 0.7 with this model.",
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
    ])
    app = model.app()

    @app.middleware("http")
    async def refuse(request, call_next):
        message = next(refusals, None)
        if message is None:
            return await call_next(request)
        return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, 400)

    agent, _ = make_agent(model_app=app)
    assert (await EditCycle(agent, 1).run()).applied
    assert agent.llm.temperature is None and agent.llm.form is OutputForm.JSON_SCHEMA
    assert all("temperature" not in r and "max_tokens" not in r for r in model.requests)
    assert model.requests[0]["max_completion_tokens"] == MAX_TOKENS[Phase.INTENT]
