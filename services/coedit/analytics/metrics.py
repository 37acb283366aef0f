"""Prometheus gauges with the summary figures, computed from the database when
scraped (and reused for `metrics_cache_seconds`).

Why gauges read from the database rather than counters bumped on ingest: every
replica reads the same shared table, so each reports the same, complete figures
(Grafana uses `max without (instance)`); none of them depends on which replica
happened to receive an event, none resets on restart, and windowed figures such as
active agents or p95 latency cannot be built from per-replica counters anyway.
Per-replica ingest counters (`coedit_analytics_events_accepted_total`) exist
beside them for ingest rates, which are correct summed over replicas."""

import asyncio
import time

import asyncpg
import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from coedit.analytics import store
from coedit.analytics.db import UNAVAILABLE
from coedit.analytics.windows import Window

log = structlog.get_logger(__name__)

WINDOWS = ("1h", "24h", "7d")
GAUGES = {
    "tokens": "LLM tokens (prompt + completion) in the window",
    "llm_calls": "LLM calls in the window",
    "edits_applied": "Edits applied in the window",
    "edits_rejected": "Edits rejected in the window",
    "active_agents": "Distinct agents with any event in the window",
    "llm_latency_seconds_mean": "Mean LLM call latency in the window, seconds",
    "llm_latency_seconds_p95": "95th percentile of LLM call latency in the window, seconds",
    "tokens_per_applied_edit": "Tokens per applied edit in the window",
    "conflict_rate": "Rejected / (applied + rejected) edits in the window",
    "cancel_rate": "Cancelled / opened intents in the window",
}
# Metrics in base units (seconds) from the summary's fields in milliseconds.
SUMMARY_FIELDS = {"llm_latency_seconds_mean": ("latency_ms_mean", 1e-3),
                  "llm_latency_seconds_p95": ("latency_ms_p95", 1e-3)}


class SummaryCollector(Collector):
    def __init__(self, max_age: float):
        self.max_age = max_age
        self.summaries: dict[str, dict] = {}
        self.refreshed_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self, pool: asyncpg.Pool) -> None:
        """Recompute the summaries unless they are younger than `max_age`; on database
        errors keep the previous ones (the scrape still answers)."""
        async with self._lock:
            if time.monotonic() - self.refreshed_at < self.max_age:
                return
            try:
                async with pool.acquire() as conn:
                    self.summaries = {
                        label: await store.summary(conn, Window.ending(label, None))
                        for label in WINDOWS
                    }
                self.refreshed_at = time.monotonic()
            except UNAVAILABLE as exc:
                log.warning("metrics summary not refreshed", error=repr(exc))

    def collect(self):
        for name, documentation in GAUGES.items():
            gauge = GaugeMetricFamily(
                f"coedit_analytics_{name}", documentation, labels=["window"]
            )
            key, scale = SUMMARY_FIELDS.get(name, (name, 1))
            for label, summary in self.summaries.items():
                if summary[key] is not None:
                    gauge.add_metric([label], summary[key] * scale)
            yield gauge
