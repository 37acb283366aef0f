"""FastAPI dependencies: the database pool lives on the app's state."""

import asyncpg
from fastapi import Request

from coedit.common.errors import ApiError


async def get_pool(request: Request) -> asyncpg.Pool:
    """The pool, or 503 while the database is not yet migrated."""
    pool = request.app.state.db.pool
    if pool is None:
        raise ApiError(503, "database_unavailable", "the database is not connected yet")
    return pool
