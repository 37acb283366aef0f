"""The fake model through the official `openai` client, in process: faults and the
quirks of real servers."""

import json

import openai
import pytest

from coedit.common.agent_protocol import Phase, reply_schema
from tests.fake_llm.test_responder import build

TEXT = "The robots lived in a quiet city. They read stories to children."
MESSAGES = build(Phase.INTENT, TEXT)
SCHEMA = reply_schema(Phase.INTENT)
FORMS = {
    "json_schema": {"type": "json_schema", "json_schema": {"name": "intent_reply", "schema": SCHEMA, "strict": True}},
    "json_object+schema": {"type": "json_object", "schema": SCHEMA},
    "json_object": {"type": "json_object"},
}


async def complete(client, **request):
    return await client.chat.completions.create(model="m", messages=MESSAGES, **request)


async def test_models_and_a_json_completion_with_usage(fake_llm_factory):
    client = fake_llm_factory(model="tiny")
    models = await client.models.list()
    assert [m.id for m in models.data] == ["tiny"]
    reply = await complete(client, response_format={"type": "json_object"})
    assert json.loads(reply.choices[0].message.content)["sentence"] in (1, 2)
    usage = reply.usage
    assert usage.prompt_tokens > sum(len(m["content"]) for m in MESSAGES) // 4
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0


async def test_prompts_can_be_counted_at_a_byte_a_token_the_worst_a_tokenizer_counts(fake_llm_factory):
    usual = (await complete(fake_llm_factory())).usage
    worst = (await complete(fake_llm_factory(prompt_bytes_per_token=1))).usage
    assert worst.prompt_tokens == sum(len(m["content"].encode()) + 4 for m in MESSAGES) + 3
    assert worst.prompt_tokens > 3 * usual.prompt_tokens and worst.completion_tokens == usual.completion_tokens


async def test_same_seed_same_answer(fake_llm_factory):
    first, second, other = fake_llm_factory(seed=3), fake_llm_factory(seed=3), fake_llm_factory(seed=4)
    answers = [(await complete(c)).choices[0].message.content for c in (first, second)]
    assert answers[0] == answers[1]
    assert json.loads((await complete(other)).choices[0].message.content)


async def test_error_rate_gives_500s_and_429s_with_retry_after_and_a_retry_can_succeed(fake_llm_factory):
    client = fake_llm_factory(error_rate=0.5)
    outcomes = []
    for attempt in range(40):
        try:
            await complete(client)
            outcomes.append(200)
        except openai.RateLimitError as exc:
            assert exc.response.headers["retry-after"] == "1"
            outcomes.append(429)
        except openai.InternalServerError:
            outcomes.append(500)
    assert {200, 429, 500} <= set(outcomes)


async def test_invalid_json_rate_breaks_answers(fake_llm_factory):
    client = fake_llm_factory(invalid_json_rate=1.0)
    content = (await complete(client)).choices[0].message.content
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


async def test_refused_response_format_forms_answer_500_the_others_work(fake_llm_factory):
    client = fake_llm_factory(refuse_formats="json_schema")
    with pytest.raises(openai.InternalServerError):
        await complete(client, response_format=FORMS["json_schema"])
    for form in ("json_object+schema", "json_object"):
        reply = await complete(client, response_format=FORMS[form])
        assert json.loads(reply.choices[0].message.content)["sentence"] in (1, 2)


async def test_a_server_refusing_temperature(fake_llm_factory):
    client = fake_llm_factory(refuse_temperature=True)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        await complete(client, temperature=0.7)
    assert (await complete(client)).choices[0].message.content


async def test_ignoring_json_only_answers_prose_unless_a_json_form_is_asked(fake_llm_factory):
    client = fake_llm_factory(ignore_json_only=True)
    prose = (await complete(client)).choices[0].message.content
    assert "{" not in prose and prose.startswith("Sure!")
    for form in FORMS.values():
        assert json.loads((await complete(client, response_format=form)).choices[0].message.content)


async def test_rambling_goes_on_without_max_tokens_and_stops_at_it(fake_llm_factory):
    client = fake_llm_factory(ramble_tokens=4000)
    unbounded = await complete(client)
    assert unbounded.usage.completion_tokens > 3900 and unbounded.choices[0].finish_reason == "stop"
    for limit in {"max_tokens": 50}, {"max_completion_tokens": 50}:
        bounded = await complete(client, **limit)
        assert bounded.usage.completion_tokens <= 50 and bounded.choices[0].finish_reason == "length"
        assert bounded.choices[0].message.content.startswith('{"sentence": ')
