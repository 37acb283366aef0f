"""FastAPI dependencies: the store lives on the app's state."""

from fastapi import Request

from coedit.chat.store import ChatStore


async def get_store(request: Request) -> ChatStore:
    return request.app.state.store
