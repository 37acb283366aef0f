"""`coedit fake-llm` as a process, as a user (or an agent) starts it."""

import json

import httpx
import pytest
from openai import AuthenticationError, OpenAI

from tests.conftest import AUTH_TOKEN

REVIEW = [{"role": "system", "content": "phase: review"},
          {"role": "user", "content": "<document>\n[1] A.\n</document>\n<operation>\n"
           '{"type": "insert_after", "sentence": 1, "text": "B."}\n</operation>'}]


def test_the_command_serves_the_openai_api(service_factory):
    model = service_factory("fake-llm", ["--seed", "7", "--model", "demo"]).start()
    client = OpenAI(base_url=f"{model.url}/v1", api_key=AUTH_TOKEN, max_retries=0)
    assert [m.id for m in client.models.list().data] == ["demo"]
    reply = client.chat.completions.create(model="demo", messages=REVIEW, response_format={"type": "json_object"})
    assert isinstance(json.loads(reply.choices[0].message.content)["approve"], bool)


def test_its_token_is_the_api_key_a_completion_needs(service_factory):
    model = service_factory("fake-llm", []).start()
    with pytest.raises(AuthenticationError):
        OpenAI(base_url=f"{model.url}/v1", api_key="not-the-token", max_retries=0).chat.completions.create(
            model="coedit-fake", messages=REVIEW)
    unauthenticated = httpx.post(f"{model.url}/v1/chat/completions", json={"model": "coedit-fake", "messages": REVIEW}, timeout=10)
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"] == "unauthorized"


def test_without_a_token_it_is_open_only_when_told_so(service_factory):
    open_model = service_factory("fake-llm", ["--insecure-no-auth"], env={"COEDIT_AUTH_TOKEN": ""}).start()
    reply = httpx.post(f"{open_model.url}/v1/chat/completions", json={"model": "coedit-fake", "messages": REVIEW}, timeout=10)
    assert reply.status_code == 200
