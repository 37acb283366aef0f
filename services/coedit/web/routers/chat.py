from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from coedit.web.deps import MonitorDep
from coedit.common.client import ServiceError
from coedit.web.views import MESSAGE_KINDS, page

router = APIRouter(tags=["chat"])
PAGE = 200
Kind = Literal["intent", "comment", "operation", "status"]


@router.get("/chat", response_class=HTMLResponse)
async def chat_page(
    request: Request, monitor: MonitorDep,
    agent: Annotated[str | None, Query(max_length=200)] = None,
    type: Annotated[list[Kind] | None, Query()] = None,
    before: Annotated[str | None, Query(pattern=r"^\d+-\d+$")] = None,
):
    """The newest messages (or those before `before`), newest first. If the chat
    is down the page still shows what the live relay last saw."""
    unavailable = None
    if monitor.chat.configured:
        try:
            messages = [m.model_dump(mode="json", exclude_none=True)
                        for m in await monitor.upstream.chat.messages(limit=PAGE, before=before)]
        except ServiceError as error:
            unavailable = f"chat unavailable ({error}); showing the messages seen last"
            messages = [] if before else list(monitor.messages)
    else:
        messages, unavailable = [], "no chat configured"
    messages = messages[::-1]
    agents = sorted({m["agent_id"] for m in messages} | set(monitor.last_message))
    kinds = list(MESSAGE_KINDS.values())
    return page(
        request, "chat.html", "chat", "Chat", "status" if before else "status,chat",
        messages=messages, agents=agents, agent=agent, kinds=kinds, types=type or kinds,
        before=before, unavailable=unavailable,
        older=messages[-1]["id"] if len(messages) == PAGE else None,
        chat_after=messages[0]["id"] if messages else None,
    )
