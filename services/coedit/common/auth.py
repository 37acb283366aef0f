"""Bearer-token auth for writes and internal routes (reads stay open)."""

import secrets

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from coedit.common.errors import ApiError

_bearer = HTTPBearer(auto_error=False)


UNAUTHORIZED = "a valid 'Authorization: Bearer <token>' is required"


def token_matches(authorization: str | None, expected) -> bool:
    """Whether an Authorization header carries `expected` (a SecretStr), compared in
    constant time."""
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        given.strip().encode(), expected.get_secret_value().encode()
    )


async def require_token(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries the service's token."""
    expected = request.app.state.settings.auth_token
    if expected is None:
        return
    credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
    if credentials is None or not token_matches(f"Bearer {credentials.credentials}", expected):
        raise ApiError(401, "unauthorized", UNAUTHORIZED)


def auth_headers(token) -> dict[str, str]:
    """Headers for calling another coedit service with the session token."""
    if token is None:
        return {}
    value = token.get_secret_value() if hasattr(token, "get_secret_value") else token
    return {"Authorization": f"Bearer {value}"}
