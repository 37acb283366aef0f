"""Summary, time series and per-agent figures against hand-computed values."""

import random
from datetime import timedelta

import pytest

from tests.analytics.conftest import (
    applied, event, ingest, intent, llm_call, rejected, summary,
)

US = timedelta(microseconds=1)
H = timedelta(hours=1)


def test_summary_math_on_a_known_set(api, era):
    ingest(api, [
        *(llm_call("ada", era - i * timedelta(minutes=1), prompt=100 * i, completion=10,
                   latency=100.0 * i, cost=0.001 * i if i % 2 else None) for i in range(1, 11)),
        applied("ada", era), applied("bob", era), applied("bob", era), rejected("cy", era),
        *(intent("ada", "opened", era) for _ in range(4)), intent("bob", "cancelled", era),
        intent("bob", "confirmed", era), event("agent_started", "dee", era),
    ])
    tokens = sum(100 * i + 10 for i in range(1, 11))
    assert summary(api, "1h", era) | {"start": None, "end": None} == {
        "window": "1h", "start": None, "end": None,
        "tokens": tokens, "prompt_tokens": 5500, "completion_tokens": 100,
        "cost_usd": pytest.approx(0.025),  # calls 1, 3, 5, 7, 9 are priced
        "llm_calls": 10, "edits_applied": 3, "edits_rejected": 1,
        "intents_opened": 4, "intents_cancelled": 1, "active_agents": 4,
        "latency_ms_mean": 550.0,
        "latency_ms_p95": pytest.approx(955.0),  # percentile_cont: 900 + 0.55 * 100
        "tokens_per_applied_edit": tokens / 3, "conflict_rate": 0.25, "cancel_rate": 0.25,
    }


def test_an_empty_window_has_zeros_and_null_rates(api, era):
    figures = summary(api, "7d", era)
    assert {k: figures[k] for k in ("tokens", "llm_calls", "active_agents")} == dict.fromkeys(
        ("tokens", "llm_calls", "active_agents"), 0)
    assert [figures[k] for k in ("latency_ms_mean", "latency_ms_p95", "tokens_per_applied_edit",
                                 "conflict_rate", "cancel_rate")] == [None] * 5


@pytest.mark.parametrize("window, length", [("1h", H), ("24h", 24 * H), ("7d", 168 * H)])
def test_window_boundaries_are_inclusive_to_the_microsecond(api, era, window, length):
    start = era - length
    inside = [start, start + US, era - US, era]
    outside = [start - US, era + US, start - H, era + H]
    ingest(api, [llm_call(f"in-{i}", ts) for i, ts in enumerate(inside)]
           + [llm_call(f"out-{i}", ts) for i, ts in enumerate(outside)])
    figures = summary(api, window, era)
    assert (figures["llm_calls"], figures["active_agents"]) == (4, 4)
    agents = api.get("/api/agents", params={"window": window, "end": era.isoformat()}).json()
    assert [a["agent_id"] for a in agents["agents"]] == ["in-0", "in-1", "in-2", "in-3"]


def test_an_agent_is_counted_once_however_often_and_whenever_seen(api, era):
    # Spread over whole hours (rollup) and the window's partial edge hours (raw rows).
    times = [era - timedelta(minutes=37 * i) for i in range(36)]  # 0 to 21.6 h back
    ingest(api, [llm_call("ada", ts) for ts in times] + [applied("ada", ts) for ts in times]
           + [intent("ada", "opened", times[3])] + [llm_call("bob", times[-1])])
    assert summary(api, "24h", era)["active_agents"] == 2
    assert summary(api, "1h", era)["active_agents"] == 1


def _reference(events: list[dict], start, end) -> dict:
    """The same figures computed naively in Python."""
    inside = [e for e in events if start <= e["_ts"] <= end]
    calls = [e for e in inside if e["type"] == "llm_call"]
    return {
        "llm_calls": len(calls),
        "tokens": sum(e["prompt_tokens"] + e["completion_tokens"] for e in calls),
        "prompt_tokens": sum(e["prompt_tokens"] for e in calls),
        "completion_tokens": sum(e["completion_tokens"] for e in calls),
        "cost_usd": sum(e.get("cost_usd", 0) for e in calls),
        "edits_applied": sum(e["type"] == "edit_applied" for e in inside),
        "edits_rejected": sum(e["type"] == "edit_rejected" for e in inside),
        "intents_opened": sum(e.get("status") == "opened" for e in inside),
        "intents_cancelled": sum(e.get("status") == "cancelled" for e in inside),
        "active_agents": len({e["agent_id"] for e in inside}),
        "latency_ms_sum": sum(e["latency_ms"] for e in calls),
    }


def test_hourly_rollup_plus_raw_edges_equal_a_full_scan(api, era):
    """Windows of every length and alignment agree with a naive count."""
    rng = random.Random(4)
    events = []
    for _ in range(1500):
        ts = era - timedelta(seconds=rng.uniform(-3600, 8 * 86400))
        agent, kind = f"agent-{rng.randrange(9)}", rng.choice(["llm", "ok", "no", "intent"])
        cost = rng.choice([None, rng.uniform(0, 0.01)])
        events.append({**(llm_call(agent, ts, prompt=rng.randrange(1000), latency=rng.randrange(5000), cost=cost)
                          if kind == "llm" else applied(agent, ts) if kind == "ok"
                          else rejected(agent, ts) if kind == "no"
                          else intent(agent, rng.choice(["opened", "cancelled"]), ts)), "_ts": ts})
    for batch in range(0, len(events), 500):
        ingest(api, [{k: v for k, v in e.items() if k != "_ts"} for e in events[batch:batch + 500]])
    for window, length in [("1h", H), ("90m", 1.5 * H), ("24h", 24 * H), ("7d", 168 * H)]:
        for end in [era, era - timedelta(minutes=17, seconds=29.25), era + timedelta(minutes=5)]:
            figures = summary(api, window, end)
            expected = _reference(events, end - length, end)
            latency_sum = expected.pop("latency_ms_sum")
            assert figures.pop("cost_usd") == pytest.approx(expected.pop("cost_usd"), abs=1e-9), (window, end)
            assert {k: figures[k] for k in expected} == expected, (window, end)
            mean = latency_sum / expected["llm_calls"] if expected["llm_calls"] else None
            assert figures["latency_ms_mean"] == pytest.approx(mean)


def test_timeseries_buckets(api, era):
    hour = era.replace(minute=0, second=0, microsecond=0)  # era is hh:17:29.25
    ingest(api, [
        llm_call("ada", hour - 3 * H + timedelta(minutes=10)),  # before the window
        llm_call("ada", hour - 2 * H + timedelta(minutes=30)),  # first, partial bucket
        llm_call("bob", hour - 2 * H + timedelta(minutes=50), prompt=1, completion=1),
        applied("ada", hour - H + timedelta(minutes=1)),         # whole hour
        rejected("bob", hour - H + timedelta(minutes=59)),
        llm_call("cy", hour + timedelta(minutes=17)),             # last, partial bucket
        llm_call("cy", hour + timedelta(minutes=18)),             # after the window's end
    ])
    response = api.get("/api/timeseries",
                       params={"window": "3h", "bucket": "1h", "end": era.isoformat()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [b["start"][11:16] for b in body["buckets"]] == [
        f"{(hour - n * H).hour:02}:00" for n in (3, 2, 1, 0)]
    assert [(b["llm_calls"], b["tokens"], b["edits_applied"], b["edits_rejected"],
             b["active_agents"]) for b in body["buckets"]] == [
        (0, 0, 0, 0, 0), (2, 122, 0, 0, 2), (0, 0, 1, 1, 2), (1, 120, 0, 0, 1)]

    fine = api.get("/api/timeseries",
                   params={"window": "1h", "bucket": "20m", "end": era.isoformat()}).json()
    assert [b["llm_calls"] for b in fine["buckets"]] == [0, 0, 0, 1]


@pytest.mark.parametrize("params, error", [
    ({"window": "1w"}, "invalid_request"),
    ({"window": "400d"}, "invalid_window"),
    ({"window": "7d", "bucket": "1m"}, "too_many_buckets"),
    ({"bucket": "0m"}, "invalid_request"),
    ({"end": "2025-01-01T00:00:00"}, "invalid_request"),
    ({"window": "1d", "end": "0001-01-01T00:26:00+00:00"}, "invalid_window"),  # once a 500
])
def test_bad_report_parameters(api, params, error):
    response = api.get("/api/timeseries", params=params)
    assert response.status_code == 422
    assert response.json()["error"] == error


def test_per_agent_figures(api, era):
    ingest(api, [
        llm_call("ada", era - H / 2, prompt=50, completion=50, latency=100, cost=0.25),
        llm_call("ada", era, prompt=100, completion=100, latency=300, cost=0.5),
        applied("ada", era), rejected("ada", era), rejected("ada", era - H / 4),
        intent("ada", "opened", era), intent("ada", "opened", era), intent("ada", "cancelled", era),
        event("agent_started", "bob", era - H / 2), event("budget_exhausted", "bob", era),
    ])
    body = api.get("/api/agents", params={"window": "1h", "end": era.isoformat()}).json()
    ada, bob = body["agents"]
    assert ada | {"first_seen": None, "last_seen": None} == {
        "agent_id": "ada", "events": 8, "tokens": 300, "prompt_tokens": 150, "completion_tokens": 150,
        "cost_usd": 0.75, "llm_calls": 2, "edits_applied": 1,
        "edits_rejected": 2, "intents_opened": 2, "intents_cancelled": 1,
        "latency_ms_mean": 200.0, "tokens_per_applied_edit": 300.0,
        "conflict_rate": 2 / 3, "cancel_rate": 0.5, "first_seen": None, "last_seen": None,
    }
    assert (bob["agent_id"], bob["events"], bob["llm_calls"], bob["conflict_rate"]) == (
        "bob", 2, 0, None)
    assert bob["first_seen"].startswith((era - H / 2).isoformat()[:19])
