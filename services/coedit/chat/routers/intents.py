"""`/api/intents`: the places agents have claimed and not yet released."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from coedit.chat.deps import get_store
from coedit.chat.models import OpenIntents
from coedit.chat.store import ChatStore
from coedit.common.errors import error_responses

router = APIRouter(prefix="/api/intents", tags=["intents"], responses=error_responses(503))


@router.get("/open", response_model=OpenIntents)
async def open_intents(store: Annotated[ChatStore, Depends(get_store)]) -> JSONResponse:
    """Intents neither applied nor cancelled whose lease has not expired, oldest first."""
    return JSONResponse({"intents": await store.open_intents()})
