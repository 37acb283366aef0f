"""`/api/session`: people pause and resume the whole session, and its runner says
when it is over; agents look before every model call and every edit they submit."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends

from coedit.chat.models import SessionChange, SessionCompletion, SessionState
from coedit.chat.deps import get_store
from coedit.chat.store import ChatStore
from coedit.common.auth import require_token
from coedit.common.errors import error_responses

router = APIRouter(prefix="/api/session", tags=["session"], responses=error_responses(503))
Store = Annotated[ChatStore, Depends(get_store)]


@router.get("", response_model=SessionState)
async def session_state(store: Store) -> SessionState:
    return await store.session_state()


@router.post("/pause", response_model=SessionState, dependencies=[Depends(require_token)],
             responses=error_responses(401, 413))
async def pause(store: Store, change: Annotated[SessionChange | None, Body()] = None) -> SessionState:
    """Pause (idempotent: pausing a paused session changes nothing but who and when)."""
    return await store.set_paused(True, change.by if change else None)


@router.post("/resume", response_model=SessionState, dependencies=[Depends(require_token)],
             responses=error_responses(401, 413))
async def resume(store: Store, change: Annotated[SessionChange | None, Body()] = None) -> SessionState:
    return await store.set_paused(False, change.by if change else None)


@router.post("/complete", response_model=SessionState, dependencies=[Depends(require_token)])
async def complete(store: Store, completion: SessionCompletion) -> SessionState:
    """The runner (`coedit up`, the operator) says which stop condition ended the
    session, so every page shows it. Idempotent: the first completion told stays."""
    return await store.complete(completion)
