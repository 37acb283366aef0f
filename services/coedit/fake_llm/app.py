"""The fake model's FastAPI app; its OpenAI-compatible routes are in `routers/completions.py`."""

from collections import Counter

from fastapi import FastAPI

from coedit.common.app import create_service_app, serve
from coedit.fake_llm.routers import completions
from coedit.fake_llm.settings import FakeLLMSettings


def create_app(settings: FakeLLMSettings) -> FastAPI:
    # the token is the API key its clients send (`Authorization: Bearer`), as OpenAI's
    app = create_service_app("fake-llm", settings, writes_need_token=True)
    app.state.seen = Counter()
    app.include_router(completions.router)
    return app


def run(settings: FakeLLMSettings) -> None:
    serve(create_app(settings), settings)
