"""Live readers: one `XREAD BLOCK` loop per process fans each new message out to
every SSE reader, so a hundred readers cost one Redis connection, one parse and
one JSON encoding per message."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import structlog
from redis.exceptions import ConnectionError, TimeoutError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from coedit.chat.store import ChatStore, stored, stream_key

log = structlog.get_logger(__name__)

LAGGED = object()
"""Put in a reader's queue when it fell `backlog` events behind and was dropped."""


T = TypeVar("T")


async def _until_redis_answers(call: Callable[[], Awaitable[T]]) -> T:
    """Retry `call` while Redis is unreachable (a restart, a failover), for as long as it takes."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((ConnectionError, TimeoutError, OSError)),
        wait=wait_exponential(multiplier=0.05, max=1),
        before_sleep=lambda state: log.warning(
            "redis unavailable, retrying", error=str(state.outcome.exception())
        ),
        reraise=True,
    ):
        with attempt:
            return await call()


def _event(message: dict) -> dict:
    """An SSE event: id = stream id, data = the message as JSON."""
    return {"id": message["id"], "data": json.dumps(message, ensure_ascii=False)}


class StreamHub:
    def __init__(self, store: ChatStore, *, block_ms: int = 2000, batch: int = 500,
                 backlog: int = 2000):
        self.store, self.block_ms, self.batch, self.backlog = store, block_ms, batch, backlog
        self.started = asyncio.Event()
        self._readers: set[asyncio.Queue] = set()

    async def run(self) -> None:
        """Read the stream from its end for ever, surviving Redis restarts."""
        after = await _until_redis_answers(self.store.last_id)
        self.started.set()
        while True:
            entries = await _until_redis_answers(
                lambda: self.store.read(after, block_ms=self.block_ms, count=self.batch)
            )
            for stream_id, data in entries:
                event = _event(stored(stream_id, data))
                for queue in list(self._readers):
                    self._deliver(queue, event)
                after = stream_id

    def _deliver(self, queue: asyncio.Queue, event: dict) -> None:
        if queue.qsize() >= self.backlog:
            self._readers.discard(queue)
            queue.put_nowait(LAGGED)
        else:
            queue.put_nowait(event)

    async def follow(self, after: str) -> AsyncIterator[dict]:
        """SSE events for every message after `after`, then for each new one.

        The reader joins the fan-out before it reads the backlog, so no message
        falls between the two; what both deliver is skipped by id. A reader that
        falls too far behind is dropped and catches up from Redis again."""
        while True:
            queue: asyncio.Queue = asyncio.Queue()
            self._readers.add(queue)
            try:
                async for event in self._backlog(after):
                    yield event
                    after = event["id"]
                while (event := await queue.get()) is not LAGGED:
                    if stream_key(event["id"]) > stream_key(after):
                        yield event
                        after = event["id"]
            finally:
                self._readers.discard(queue)

    async def _backlog(self, after: str) -> AsyncIterator[dict]:
        while page := await _until_redis_answers(
            lambda: self.store.page(after=after, before=None, limit=self.batch)
        ):
            for message in page:
                yield _event(message)
            after = page[-1]["id"]
