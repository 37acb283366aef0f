"""People: the Yjs sync protocol (`/yjs/{room}`) and restoring a version."""

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket

from coedit.common.auth import Writer, token_matches
from coedit.common.errors import ApiError, error_responses
from coedit.common.streams import websocket_slot
from coedit.text_node.deps import get_node
from coedit.text_node.models import PERSON_NAME, EditAccepted, RestoreRequest
from coedit.text_node.node import TextNode
from coedit.text_node.people import ROOM, Restore

router = APIRouter(tags=["people"])
Node = Annotated[TextNode, Depends(get_node)]


@router.websocket("/yjs/{room}")
async def yjs(websocket: WebSocket, room: str, token: str = "", name: str = ""):
    """A Yjs client (y-websocket's `WebsocketProvider(url + "/yjs", "document", ydoc,
    {params: {token, name}})`): a browser cannot set headers on a WebSocket, so the
    token comes as a query parameter. Refused before the handshake (HTTP 403) with a
    wrong or missing token, an unknown room or no name, and with 503 `streams_full`
    while the node holds `max_people_connections` (all the web's editors come from
    one address, so there is no cap per client here: the web keeps one)."""
    expected = websocket.app.state.settings.auth_token
    if expected is not None and not token_matches(f"Bearer {token}", expected):
        return await websocket.close(code=1008, reason="a valid token is required")
    if room != ROOM or not re.fullmatch(PERSON_NAME, name):
        return await websocket.close(code=1008, reason=f"the room is {ROOM!r}; a name is required")
    async with websocket_slot(websocket, websocket.app.state.people_slots) as granted:
        if granted:
            await websocket.accept()
            await websocket.app.state.people.serve(websocket, name)


@router.post("/api/document/restore", status_code=201, response_model=EditAccepted,
             responses=error_responses(401, 403, 404, 413, 429, 503))
async def restore(node: Node, request: RestoreRequest, caller: Writer) -> EditAccepted:
    """One new version whose text equals `version`'s, attributed to `agent_id` (a
    person); idempotent on `edit_id`. An agent's own token restores only as itself."""
    caller.may_write_as(request.agent_id)
    text = await node.text_at(request.version)
    if text is None:
        raise ApiError(404, "version_not_found", f"this node holds versions 0..{node.committed.version}")
    return await node.submit(Restore(edit_id=request.edit_id or f"restore-{uuid.uuid4().hex}",
                                     name=request.agent_id, version=request.version, text=text))
