"""Caps on live connections (Server-Sent Events): each open stream holds memory and
a share of every broadcast for as long as the client likes, so a service keeps no
more than `total` open, and no more than `per_client` for one remote address."""

from collections import Counter
from collections.abc import AsyncIterator

from fastapi import Request

from coedit.common.errors import ApiError, error_responses

# for the stream routes' `responses=`
STREAM_REFUSALS = error_responses(429, 503)


class StreamSlots:
    def __init__(self, total: int, per_client: int):
        self.total, self.per_client = total, per_client
        self.held: Counter[str] = Counter()

    def take(self, client: str) -> None:
        """Hold a slot for `client`, or refuse: 429 when that client holds its share
        (it can close one), 503 when the service holds all it takes (anyone may retry)."""
        if self.held[client] >= self.per_client:
            raise ApiError(429, "too_many_streams",
                           f"at most {self.per_client} live streams per client; close one first")
        if self.held.total() >= self.total:
            raise ApiError(503, "streams_full", f"this service holds its {self.total} live streams; retry later")
        self.held[client] += 1

    def release(self, client: str) -> None:
        self.held[client] -= 1
        if not self.held[client]:
            del self.held[client]


async def stream_slot(request: Request) -> AsyncIterator[None]:
    """FastAPI dependency of a stream route (`app.state.stream_slots`): the slot is
    held until the response has ended, however it ends."""
    slots: StreamSlots = request.app.state.stream_slots
    client = request.client.host if request.client else "unknown"
    slots.take(client)
    try:
        yield
    finally:
        slots.release(client)
