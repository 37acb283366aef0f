"""The fake model through the official `openai` client, in process."""

import json

import openai
import pytest

from coedit.agent.context import excerpt
from coedit.agent.prompts import Author, build
from coedit.agent.protocol import Phase

TEXT = "The robots lived in a quiet city. They read stories to children."
MESSAGES = build(Phase.INTENT, Author("a1", "a plotter", "robots", "en"), excerpt(TEXT, 0, len(TEXT)))


async def test_models_and_a_json_completion_with_usage(fake_llm_factory):
    client = fake_llm_factory(model="tiny")
    models = await client.models.list()
    assert [m.id for m in models.data] == ["tiny"]
    reply = await client.chat.completions.create(
        model="tiny", messages=MESSAGES, response_format={"type": "json_object"}
    )
    assert json.loads(reply.choices[0].message.content)["anchor"] in TEXT
    usage = reply.usage
    assert usage.prompt_tokens > sum(len(m["content"]) for m in MESSAGES) // 4
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0


async def test_same_seed_same_answer(fake_llm_factory):
    first, second, other = fake_llm_factory(seed=3), fake_llm_factory(seed=3), fake_llm_factory(seed=4)
    answers = [
        (await c.chat.completions.create(model="m", messages=MESSAGES)).choices[0].message.content
        for c in (first, second)
    ]
    assert answers[0] == answers[1]
    assert json.loads((await other.chat.completions.create(model="m", messages=MESSAGES)).choices[0].message.content)


async def test_error_rate_gives_500s_and_429s_and_a_retry_can_succeed(fake_llm_factory):
    client = fake_llm_factory(error_rate=0.5)
    outcomes = []
    for attempt in range(40):
        try:
            await client.chat.completions.create(model="m", messages=MESSAGES)
            outcomes.append(200)
        except openai.RateLimitError:
            outcomes.append(429)
        except openai.InternalServerError:
            outcomes.append(500)
    assert {200, 429, 500} <= set(outcomes)


async def test_invalid_json_rate_breaks_answers(fake_llm_factory):
    client = fake_llm_factory(invalid_json_rate=1.0)
    content = (await client.chat.completions.create(model="m", messages=MESSAGES)).choices[0].message.content
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)
