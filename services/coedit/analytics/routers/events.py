"""`POST /api/events`: one event or a batch, stored all or nothing, idempotently; with
an agent's own token, every event must be that agent's."""

from datetime import UTC, datetime

import asyncpg
from fastapi import APIRouter, Depends
from prometheus_client import Counter

from coedit.analytics import store
from coedit.analytics.deps import get_pool
from coedit.analytics.models import EventsBody, IngestResult
from coedit.common.auth import Writer
from coedit.common.errors import error_responses

router = APIRouter(prefix="/api/events", tags=["events"], responses=error_responses(401, 403, 413, 503))

# Per replica: Prometheus sums them over replicas (`sum(rate(...))`).
ACCEPTED = Counter("coedit_analytics_events_accepted", "Events stored by this replica")
DUPLICATES = Counter(
    "coedit_analytics_events_duplicate", "Events this replica skipped as already stored"
)


@router.post("")
async def post_events(body: EventsBody, caller: Writer, pool: asyncpg.Pool = Depends(get_pool)) -> IngestResult:
    events = body if isinstance(body, list) else [body]
    for event in events:
        caller.may_write_as(event.agent_id)
    accepted = await store.insert_events(pool, events, datetime.now(UTC))
    ACCEPTED.inc(accepted)
    DUPLICATES.inc(len(events) - accepted)
    return IngestResult(accepted=accepted, duplicates=len(events) - accepted)
