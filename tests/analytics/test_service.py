"""The process as a whole: start-up before its database, migrations, outages, /metrics."""

import asyncio
import time

import asyncpg
import httpx

from coedit.local.servers import PostgresServer, free_port
from tests.analytics.conftest import analytics_args, applied, ingest, intent, llm_call, rejected
from tests.conftest import AUTH


def _wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _schema_versions(url: str) -> list:
    async def read():
        conn = await asyncpg.connect(url)
        try:
            return [r["version"] for r in await conn.fetch("SELECT version FROM analytics.schema_version")]
        finally:
            await conn.close()

    return asyncio.run(read())


def test_starts_before_its_database_migrates_once_and_survives_outages(tmp_path, service_factory):
    postgres = PostgresServer(tmp_path / "pg", port=free_port(), fsync=False)
    service = service_factory("analytics", analytics_args(postgres.url)).start(wait_ready=False)
    try:
        _wait_for(lambda: _get(service.url + "/healthz") == 200)
        readiness = httpx.get(service.url + "/readyz")
        assert readiness.status_code == 503
        assert readiness.json()["database"] == "connecting"
        refused = httpx.post(service.url + "/api/events", json=llm_call("ada"), headers=AUTH)
        assert (refused.status_code, refused.json()["error"]) == (503, "database_unavailable")

        postgres.start()
        service.wait_ready()
        with httpx.Client(base_url=service.url, timeout=30) as api:
            assert ingest(api, [llm_call("ada")]) == {"accepted": 1, "duplicates": 0}

            postgres.stop()
            down = api.post("/api/events", json=llm_call("ada"), headers=AUTH)
            assert (down.status_code, down.json()["error"]) == (503, "database_unavailable")
            assert api.get("/readyz").status_code == 503

            postgres.start()
            _wait_for(lambda: api.get("/readyz").status_code == 200)
            _wait_for(lambda: api.post("/api/events", json=llm_call("ada"), headers=AUTH)
                      .status_code == 200)

        service.stop()
        service.start()  # the second start finds the schema in place
        assert _schema_versions(postgres.url) == [1, 2, 3]
        assert httpx.get(service.url + "/api/summary").json()["llm_calls"] == 2
    finally:
        service.stop()
        postgres.stop()


def _get(url: str) -> int | None:
    try:
        return httpx.get(url).status_code
    except httpx.HTTPError:
        return None


def _samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def test_metrics_carry_the_summary_figures(postgres, service_factory):
    service = service_factory("analytics", analytics_args(postgres.url)).start()
    with httpx.Client(base_url=service.url, timeout=30) as api:
        empty = _samples(api.get("/metrics").text)
        assert empty['coedit_analytics_llm_calls{window="1h"}'] == 0
        assert 'coedit_analytics_conflict_rate{window="1h"}' not in empty  # null: no sample

        ingest(api, [llm_call("ada", prompt=30, completion=10, latency=200),
                     llm_call("bob", prompt=60, completion=20, latency=400),
                     applied("ada"), rejected("bob"), intent("ada", "opened")])
        ingest(api, [applied("ada")] * 2)
        samples = _samples(api.get("/metrics").text)
    for window in ("1h", "24h", "7d"):
        assert {name: samples[f'coedit_analytics_{name}{{window="{window}"}}'] for name in (
            "tokens", "llm_calls", "edits_applied", "edits_rejected", "active_agents",
            "llm_latency_seconds_mean", "tokens_per_applied_edit", "conflict_rate", "cancel_rate",
        )} == {"tokens": 120, "llm_calls": 2, "edits_applied": 2, "edits_rejected": 1,
               "active_agents": 2, "llm_latency_seconds_mean": 0.3, "tokens_per_applied_edit": 60,
               "conflict_rate": 1 / 3, "cancel_rate": 0}
        assert 0.2 < samples[f'coedit_analytics_llm_latency_seconds_p95{{window="{window}"}}'] <= 0.4
    assert samples["coedit_analytics_events_accepted_total"] == 6
    assert samples["coedit_analytics_events_duplicate_total"] == 1
