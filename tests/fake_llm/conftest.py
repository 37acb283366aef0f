import httpx
import pytest
from openai import AsyncOpenAI

from coedit.fake_llm.app import create_app
from coedit.fake_llm.settings import FakeLLMSettings


KEY = "fake-llm-key"  # the fake model's token: the API key its clients send


@pytest.fixture
def fake_llm_factory():
    """An in-process fake model and the official client pointed at it."""
    clients: list[AsyncOpenAI] = []

    def make(**settings) -> AsyncOpenAI:
        app = create_app(FakeLLMSettings(_cli_parse_args=False, auth_token=KEY, **settings))
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        client = AsyncOpenAI(base_url="http://fake/v1", api_key=KEY, http_client=http, max_retries=0)
        clients.append(client)
        return client

    yield make
