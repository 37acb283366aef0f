"""The analytics service's typed client, the only code outside this folder that
knows its routes. Events can go through an outbox (`record`, then `flush`): an
outage delays them, never loses them (each has an idempotent `event_id`)."""

from datetime import datetime

import structlog
from pydantic import TypeAdapter

from coedit.analytics.models import MAX_BATCH, Agents, Event, IngestResult, Summary, Timeseries
from coedit.common.client import NotFound, Refused, ServiceClient, ServiceError, Unavailable

__all__ = ["EVENTS_PATH", "AnalyticsClient", "NotFound", "Refused", "ServiceError", "Unavailable"]

log = structlog.get_logger("coedit.client")

_EVENTS = TypeAdapter(list[Event])
EVENTS_PATH = "/api/events"  # for a load generator that cannot afford a client (bench/)


class AnalyticsClient(ServiceClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outbox: list[Event] = []

    async def post_events(self, events: list[Event]) -> IngestResult:
        """Store up to MAX_BATCH events, all or nothing; a repeated `event_id` counts
        as a duplicate, so posting again is safe."""
        body = _EVENTS.dump_python(events, mode="json", exclude_none=True)
        return await self.call("POST", EVENTS_PATH, IngestResult, json=body)

    def record(self, event: Event) -> None:
        """Queue `event` for the next `flush`."""
        self.outbox.append(event)

    async def flush(self) -> bool:
        """Send the outbox; False (the events kept) when analytics is unavailable.
        Events it refuses are a bug, not an outage: logged and dropped."""
        while self.outbox:
            batch = self.outbox[:MAX_BATCH]
            try:
                await self.post_events(batch)
            except Unavailable as exc:
                log.warning("analytics_unavailable", pending=len(self.outbox), error=str(exc))
                return False
            except Refused as exc:  # retrying cannot help
                log.error("analytics_refused_events", status=exc.status, body=str(exc.body)[:500])
            del self.outbox[: len(batch)]
        return True

    async def summary(self, window: str = "1h", end: datetime | None = None) -> Summary:
        return await self.call("GET", "/api/summary", Summary, params=_window(window, end))

    async def timeseries(self, window: str = "1h", bucket: str = "5m", end: datetime | None = None) -> Timeseries:
        return await self.call("GET", "/api/timeseries", Timeseries,
                               params={**_window(window, end), "bucket": bucket})

    async def agents(self, window: str = "1h", end: datetime | None = None) -> Agents:
        return await self.call("GET", "/api/agents", Agents, params=_window(window, end))


def _window(window: str, end: datetime | None) -> dict:
    """The report's window: `window` long, ending at `end` (default: now)."""
    return {"window": window} if end is None else {"window": window, "end": end.isoformat()}
