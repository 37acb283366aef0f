"""The agent against the fake model playing real servers' quirks (in process)."""

from coedit.agent.cycle import EditCycle
from coedit.agent.llm import OutputForm
from coedit.agent.prompts import MAX_TOKENS
from coedit.common.agent_protocol import Phase
from coedit.fake_llm.app import create_app
from coedit.fake_llm.settings import FakeLLMSettings
from tests.agent.conftest import TEXT


def quirky(**quirks):
    return create_app(FakeLLMSettings(_cli_parse_args=False, insecure_no_auth=True, seed=1, **quirks))


async def test_a_server_answering_500_to_json_schema_gets_llama_cpps_form(make_agent, peers):
    agent, _ = make_agent(model_app=quirky(refuse_formats="json_schema"))
    assert (await EditCycle(agent, 1).run()).applied
    assert agent.llm.form is OutputForm.JSON_OBJECT_SCHEMA


async def test_a_server_refusing_temperature_still_writes(make_agent, peers):
    agent, _ = make_agent(model_app=quirky(refuse_temperature=True))
    assert (await EditCycle(agent, 1).run()).applied
    assert agent.llm.temperature is None


async def test_a_rambling_model_is_cut_at_max_tokens_and_its_replies_still_read(make_agent, peers):
    agent, _ = make_agent(model_app=quirky(ramble_tokens=4000))
    assert (await EditCycle(agent, 1).run()).applied
    await agent.analytics.flush()
    calls = peers.events_of("llm_call")
    assert calls and all(c["completion_tokens"] <= MAX_TOKENS[Phase(c["phase"])] for c in calls)
    assert any(c["completion_tokens"] == MAX_TOKENS[Phase(c["phase"])] for c in calls)  # it did ramble


async def test_a_server_with_no_json_mode_that_ignores_json_only_cancels_saying_why(make_agent, peers):
    app = quirky(refuse_formats="json_schema,json_object+schema,json_object", ignore_json_only=True)
    agent, _ = make_agent(model_app=app, phases="generate")
    outcome = await EditCycle(agent, 1).run()
    assert not outcome.applied and outcome.reason == "the model gave no usable operation"
    assert agent.llm.form is OutputForm.TEXT and outcome.llm_calls == 1
    assert peers.of_type("edit_comment")[0]["text"] == outcome.reason
    assert peers.of_type("intent_status")[-1]["status"] == "cancelled" and peers.text == TEXT
