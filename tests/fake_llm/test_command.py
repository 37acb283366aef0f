"""`coedit fake-llm` as a process, as a user (or an agent) starts it."""

import json

from openai import OpenAI


def test_the_command_serves_the_openai_api(service_factory):
    model = service_factory("fake-llm", ["--seed", "7", "--model", "demo"]).start()
    client = OpenAI(base_url=f"{model.url}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list().data] == ["demo"]
    reply = client.chat.completions.create(
        model="demo",
        messages=[{"role": "system", "content": "phase: review"},
                  {"role": "user", "content": "<document>\n[1] A.\n</document>\n<operation>\n"
                   '{"type": "insert_after", "sentence": 1, "text": "B."}\n</operation>'}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(reply.choices[0].message.content)["approve"], bool)
