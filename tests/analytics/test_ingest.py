"""POST /api/events: idempotency, all-or-nothing batches, bad input, auth."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tests.analytics.conftest import (
    ADA, WRITERS, applied, event, ingest, intent, llm_call, post, rejected, summary,
)
from tests.conftest import AUTH


def test_every_type_is_accepted(api, era):
    events = [
        llm_call("ada", era), applied("ada", era), rejected("ada", era),
        *(intent("ada", status, era) for status in ("opened", "confirmed", "cancelled", "applied")),
        event("agent_started", "ada", era), event("agent_stopped", "ada", era, reason="done"),
        event("agent_stopped", "ada", era), event("budget_exhausted", "ada", era),
        event("edit_applied", "ada", era, tokens=42),
    ]
    assert ingest(api, events) == {"accepted": len(events), "duplicates": 0}
    assert ingest(api, events[0]) == {"accepted": 0, "duplicates": 1}


def test_a_repeated_event_is_stored_once(api, era):
    call = llm_call("ada", era, prompt=10, completion=5)
    assert ingest(api, [call]) == {"accepted": 1, "duplicates": 0}
    assert ingest(api, [call, call]) == {"accepted": 0, "duplicates": 2}
    # Same id, different content: the first version stays.
    assert ingest(api, {**call, "prompt_tokens": 1000}) == {"accepted": 0, "duplicates": 1}
    other = llm_call("ada", era, prompt=1, completion=1)
    assert ingest(api, [other, other]) == {"accepted": 1, "duplicates": 1}
    figures = summary(api, "1h", era)
    assert (figures["llm_calls"], figures["tokens"]) == (2, 17)


def test_concurrent_retries_of_overlapping_batches_store_each_event_once(api, era):
    events = [llm_call(f"agent-{i % 7}", era) for i in range(300)]
    batches = [events[i:i + 200] for i in (0, 100, 50, 0, 100)]
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda batch: ingest(api, batch), batches))
    assert sum(r["accepted"] for r in results) == 300
    assert sum(r["duplicates"] for r in results) == 1000 - 300
    assert summary(api, "1h", era)["llm_calls"] == 300


def test_server_time_when_ts_is_omitted(api):
    before = datetime.now(UTC)
    ingest(api, llm_call("timeless"))
    agents = api.get("/api/agents", params={"window": "1h"}).json()["agents"]
    (mine,) = [a for a in agents if a["agent_id"] == "timeless"]
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(mine["first_seen"])
    assert datetime.fromisoformat(mine["first_seen"]) <= datetime.now(UTC)


def _future() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


BAD_EVENTS = {
    "unknown type": ({"type": "telepathy"}, "union_tag_invalid"),
    "missing type": ({"type": None}, "union_tag_not_found"),
    "missing field": ({"latency_ms": None}, "missing"),
    "wrong field type": ({"prompt_tokens": "many"}, "int_type"),
    "negative tokens": ({"completion_tokens": -1}, "greater_than_equal"),
    "negative latency": ({"latency_ms": -0.5}, "greater_than_equal"),
    "unknown field": ({"colour": "blue"}, "extra_forbidden"),
    "empty event_id": ({"event_id": ""}, "string_too_short"),
    "huge event_id": ({"event_id": "x" * 129}, "string_too_long"),
    "missing agent_id": ({"agent_id": None}, "missing"),
    "ts without timezone": ({"ts": "2025-01-01T00:00:00"}, "timezone_aware"),
    "ts not a time": ({"ts": "yesterday"}, "datetime_from_date_parsing"),
    "ts in the future": ({"ts": None}, "value_error"),  # filled in below
    # hostile input found by fuzzing: each once made every read of the window a 500
    "latency 1e308": ({"latency_ms": 1e308}, "less_than_equal"),
    "tokens past int4": ({"prompt_tokens": 2**31}, "less_than_equal"),
    "tokens as a boolean": ({"prompt_tokens": True}, "int_type"),
    "tokens as a string": ({"completion_tokens": "5"}, "int_type"),
    "NUL in agent_id": ({"agent_id": "a\u0000b"}, "value_error"),
    "NUL in model": ({"model": "\u0000"}, "value_error"),
    "ts before 2000": ({"ts": "0001-01-01T00:00:00+00:00"}, "value_error"),
}


@pytest.mark.parametrize("case", BAD_EVENTS)
def test_bad_events_are_refused_and_nothing_of_the_batch_is_stored(api, era, case):
    change, error_type = BAD_EVENTS[case]
    bad = {**llm_call("ada", era), **change}
    if case == "ts in the future":
        bad["ts"] = _future()
    bad = {key: value for key, value in bad.items() if value is not None}
    good = [llm_call("ada", era), applied("ada", era)]
    response = post(api, [*good, bad])
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert error_type in {problem["type"] for problem in body["detail"]}
    assert all(problem["loc"][:3] == ["body", "many", 2] for problem in body["detail"])
    assert summary(api, "1h", era)["llm_calls"] == 0


@pytest.mark.parametrize("kind, fields, missing", [
    ("edit_rejected", {}, "reason"),
    ("intent", {"status": "opened"}, "intent_id"),
    ("intent", {"intent_id": "i"}, "status"),
])
def test_type_specific_fields_are_required(api, era, kind, fields, missing):
    response = post(api, event(kind, "ada", era, **fields))
    assert response.status_code == 422
    assert [p["loc"] for p in response.json()["detail"]] == [["body", "one", kind, missing]]


def test_bad_intent_status(api, era):
    response = post(api, intent("ada", "maybe", era))
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "literal_error"


@pytest.mark.parametrize("content, status", [
    (b"{not json", 422),
    (b'"an event"', 422),
    (b"42", 422),
    (b'{"event_id": "n", "type": "llm_call", "agent_id": "a", "phase": "p", "model": "m", '
     b'"prompt_tokens": 1, "completion_tokens": 1, "latency_ms": NaN}', 422),
])
def test_malformed_bodies(api, content, status):
    response = api.post("/api/events", content=content,
                        headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == status
    assert response.json()["error"] == "invalid_request"


def test_batches_are_limited(api, era):
    response = post(api, [llm_call("ada", era) for _ in range(1001)])
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "too_long"
    assert summary(api, "1h", era)["llm_calls"] == 0
    assert ingest(api, []) == {"accepted": 0, "duplicates": 0}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Basic dGVzdC10b2tlbg=="}])
def test_writes_need_the_token(api, era, headers):
    response = api.post("/api/events", json=[llm_call("ada", era)], headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    # Even a bad body is refused for auth first, and reads stay open.
    assert api.post("/api/events", json={"junk": 1}, headers=headers).status_code == 401
    assert summary(api, "1h", era)["llm_calls"] == 0


def test_an_agents_token_records_only_its_own_events(api, era):
    """An agent's own token: its events, or its group's members' for a group's token;
    a batch with anyone else's is refused whole (403 agent_mismatch)."""
    def send(events, token):
        return api.post("/api/events", json=events, headers={"Authorization": f"Bearer {token}"})

    forged = send([llm_call("ada", era), llm_call("bob", era)], ADA)
    assert forged.status_code == 403 and forged.json()["error"] == "agent_mismatch", forged.text
    assert send([llm_call("writers", era)], WRITERS).status_code == 403  # members, not the group's name
    assert send([llm_call("writers/x-1", era)], ADA).status_code == 403
    assert summary(api, "1h", era)["llm_calls"] == 0
    assert send([llm_call("ada", era)], ADA).status_code == 200
    assert send([llm_call("writers/x-1", era), llm_call("writers/x-2", era)], WRITERS).status_code == 200
    assert summary(api, "1h", era)["llm_calls"] == 3
