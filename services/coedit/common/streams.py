"""Caps on live connections (Server-Sent Events, WebSockets): each open one holds
memory and a share of every broadcast for as long as the client likes, so a service
keeps no more than `total` open, and no more than `per_client` for one remote address."""

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from fastapi import Request, WebSocket
from fastapi.responses import JSONResponse

from coedit.common.errors import ApiError, error_responses

# for the stream routes' `responses=`
STREAM_REFUSALS = error_responses(429, 503)
TRY_AGAIN_LATER = 1013  # WebSocket close code, where a handshake cannot be answered in HTTP


class StreamSlots:
    def __init__(self, total: int, per_client: int | None):
        """`per_client` None: no cap per address (behind a relay, every client has the relay's)."""
        self.total, self.per_client = total, per_client
        self.held: Counter[str] = Counter()

    def take(self, client: str) -> None:
        """Hold a slot for `client`, or refuse: 429 when that client holds its share
        (it can close one), 503 when the service holds all it takes (anyone may retry)."""
        if self.per_client is not None and self.held[client] >= self.per_client:
            raise ApiError(429, "too_many_streams",
                           f"at most {self.per_client} live streams per client; close one first")
        if self.held.total() >= self.total:
            raise ApiError(503, "streams_full", f"this service holds its {self.total} live streams; retry later")
        self.held[client] += 1

    def release(self, client: str) -> None:
        self.held[client] -= 1
        if not self.held[client]:
            del self.held[client]

    @contextmanager
    def hold(self, client: str) -> Iterator[None]:
        self.take(client)
        try:
            yield
        finally:
            self.release(client)


def _client(connection: Request | WebSocket) -> str:
    return connection.client.host if connection.client else "unknown"


async def stream_slot(request: Request) -> AsyncIterator[None]:
    """FastAPI dependency of a stream route (`app.state.stream_slots`): the slot is
    held until the response has ended, however it ends."""
    with request.app.state.stream_slots.hold(_client(request)):
        yield


@asynccontextmanager
async def websocket_slot(websocket: WebSocket, slots: StreamSlots) -> AsyncIterator[bool]:
    """Hold one of `slots` for a WebSocket while the block runs: True; or refuse the
    handshake (`refuse_handshake`) and give False."""
    client = _client(websocket)
    try:
        slots.take(client)
    except ApiError as refusal:
        await refuse_handshake(websocket, refusal)
        yield False
        return
    try:
        yield True
    finally:
        slots.release(client)


async def refuse_handshake(websocket: WebSocket, error: ApiError) -> None:
    """Answer a WebSocket handshake with the error's status and JSON body, as an HTTP
    route would (the client can tell why), or close with 1013 and the error's code
    where the server cannot send an HTTP answer."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse(error.body(), error.status, headers=error.headers))
    else:
        await websocket.close(code=TRY_AGAIN_LATER, reason=error.error)
