"""Bearer-token auth for writes and internal routes (reads stay open)."""

import secrets

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from coedit.common.errors import ApiError

_bearer = HTTPBearer(auto_error=False)


async def require_token(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries the service's token."""
    expected = request.app.state.settings.auth_token
    if expected is None:
        return
    credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
    if credentials is None or not secrets.compare_digest(
        credentials.credentials.encode(), expected.get_secret_value().encode()
    ):
        raise ApiError(401, "unauthorized", "a valid 'Authorization: Bearer <token>' is required")


def auth_headers(token) -> dict[str, str]:
    """Headers for calling another coedit service with the session token."""
    if token is None:
        return {}
    value = token.get_secret_value() if hasattr(token, "get_secret_value") else token
    return {"Authorization": f"Bearer {value}"}
