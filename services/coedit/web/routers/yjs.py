"""The Yjs relay: a browser's WebSocket to a text node (on Kubernetes the text
nodes are internal; the ingress routes `/yjs` to the web like any page). One hop,
messages passed as they are, to the first node that is up, with the session's
token. A browser that is not signed in only reads: it may ask for the document
(sync step 1) and gets every update, but its own updates and awareness are dropped."""

import asyncio
from contextlib import suppress
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pycrdt import YMessageType, YSyncMessageType
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from coedit.common.streams import TRY_AGAIN_LATER, websocket_slot
from coedit.web.auth import COOKIE, valid

log = structlog.get_logger(__name__)
router = APIRouter(tags=["people"])


def _same_origin(websocket: WebSocket) -> bool:
    """A page of another site must not write with this browser's cookie."""
    origin = websocket.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == websocket.headers.get("host")


def _reader_may_send(message: bytes) -> bool:
    return message[:2] == bytes([YMessageType.SYNC, YSyncMessageType.SYNC_STEP1])


@router.websocket("/yjs/{room}")
async def relay(websocket: WebSocket, room: str, name: str = "anonymous", token: str | None = None):
    """One of the web's live streams (its cap per client and in all counts these too)."""
    async with websocket_slot(websocket, websocket.app.state.stream_slots) as granted:
        if granted:
            await _relay(websocket, room, name, token)


async def _relay(websocket: WebSocket, room: str, name: str, token: str | None) -> None:
    monitor = websocket.app.state.monitor
    token = token or websocket.cookies.get(COOKIE)
    writer = token is not None and valid(websocket, token) and _same_origin(websocket)
    node = next((n for n in monitor.nodes if n.up), None)
    if node is None:
        return await websocket.close(code=TRY_AGAIN_LATER, reason="no text node is up")
    settings = websocket.app.state.settings
    url = monitor.upstream.nodes[node.url].yjs_url(
        name if writer else "reader", settings.auth_token.get_secret_value() if settings.auth_token else None,
        room=room)
    try:
        upstream = await connect(url, open_timeout=5, max_size=16 * 1024 * 1024)
    except (OSError, InvalidStatus, TimeoutError) as error:
        log.warning("yjs relay: text node refused or unreachable", node=node.url, error=str(error))
        return await websocket.close(code=TRY_AGAIN_LATER, reason="text node unavailable")
    await websocket.accept()
    async with upstream:
        tasks = [asyncio.create_task(_down(upstream, websocket)), asyncio.create_task(_up(websocket, upstream, writer))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    with suppress(RuntimeError, WebSocketDisconnect):  # the browser may have gone first
        await websocket.close(code=upstream.close_code or 1000, reason=(upstream.close_reason or "")[:120])


async def _down(upstream, websocket: WebSocket) -> None:
    with suppress(ConnectionClosed):
        async for message in upstream:
            await websocket.send_bytes(message if isinstance(message, bytes) else message.encode())


async def _up(websocket: WebSocket, upstream, writer: bool) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        if data and (writer or _reader_may_send(data)):
            await upstream.send(data)
