"""One analytics process on one PostgreSQL for the whole module (tests keep apart
by giving each its own stretch of time), builders for events, and small clients."""

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from coedit.local.servers import PostgresServer
from tests.conftest import AUTH, AUTH_ENV
from coedit.local.processes import ServiceProcess

_eras = itertools.count()
# agents' own tokens: one agent's, and a group's (the operator's agent Deployments)
ADA, WRITERS = "ada-token-0123456789", "writers-token-0123456789"
AGENT_ENV = {"COEDIT_AGENT_TOKENS": f"ada={ADA},writers/*={WRITERS}"}


def analytics_args(database_url: str, *flags: str) -> list[str]:
    return ["--database-url", database_url, "--metrics-cache-seconds", "0", *flags]


@pytest.fixture(scope="module")
def shared_analytics(tmp_path_factory) -> Iterator[ServiceProcess]:
    """Starting PostgreSQL costs seconds, so the read/write tests share one server."""
    tmp = tmp_path_factory.mktemp("analytics")
    postgres = PostgresServer(tmp / "pg", fsync=False).start()
    service = ServiceProcess("analytics", analytics_args(postgres.url), tmp, env={**AUTH_ENV, **AGENT_ENV})
    try:
        yield service.start()
    finally:
        service.stop()
        postgres.stop()


@pytest.fixture
def api(shared_analytics) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_analytics.url, timeout=30) as client:
        yield client


@pytest.fixture
def era() -> datetime:
    """A time no other test of the session uses (60 days apart, going back from 2025,
    at an odd minute so that windows do not start on whole hours)."""
    return datetime(2025, 1, 1, 0, 17, 29, 250_000, tzinfo=UTC) - next(_eras) * timedelta(days=60)


def event(kind: str, agent: str, ts: datetime | None = None, **fields) -> dict:
    body = {"event_id": str(uuid.uuid4()), "type": kind, "agent_id": agent, **fields}
    if ts is not None:
        body["ts"] = ts.isoformat()
    return body


def llm_call(agent: str, ts: datetime | None = None, *, prompt: int = 100, completion: int = 20,
             latency: float = 500.0, phase: str = "generate", cost: float | None = None) -> dict:
    priced = {} if cost is None else {"cost_usd": cost}
    return event("llm_call", agent, ts, phase=phase, model="fake", prompt_tokens=prompt,
                 completion_tokens=completion, latency_ms=latency, **priced)


def applied(agent: str, ts: datetime | None = None) -> dict:
    return event("edit_applied", agent, ts, edit_id=str(uuid.uuid4()), version=1, node_id="a")


def rejected(agent: str, ts: datetime | None = None) -> dict:
    return event("edit_rejected", agent, ts, reason="anchor_not_found")


def intent(agent: str, status: str, ts: datetime | None = None) -> dict:
    return event("intent", agent, ts, intent_id=str(uuid.uuid4()), status=status)


def post(api: httpx.Client, events) -> httpx.Response:
    return api.post("/api/events", json=events, headers=AUTH)


def ingest(api: httpx.Client, events: list[dict]) -> dict:
    response = post(api, events)
    assert response.status_code == 200, response.text
    return response.json()


def summary(api: httpx.Client, window: str, end: datetime) -> dict:
    response = api.get("/api/summary", params={"window": window, "end": end.isoformat()})
    assert response.status_code == 200, response.text
    return response.json()
