"""Bearer-token auth for writes and internal routes (reads stay open). The session
token (services, `coedit up`) may do anything; where a service takes agents' own
tokens, a public write with one may carry only that agent's `agent_id`, and internal
routes stay the session token's."""

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from coedit.common.agent_tokens import agent_for, covers
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


@dataclass(frozen=True)
class Caller:
    """Who a write comes from: the session (`agent` None), which may write as anyone,
    or one agent by its own token, which may write only as itself (a group's token:
    as one of its members, see `agent_tokens.covers`)."""

    agent: str | None = None

    def may_write_as(self, agent_id: str) -> None:
        """403 `agent_mismatch` (before anything is stored) for another agent's name."""
        if self.agent is not None and not covers(self.agent, agent_id):
            raise ApiError(403, "agent_mismatch",
                           f"this token is agent {self.agent!r}'s: it may not write as {agent_id!r}")


def caller_for(authorization: str | None, settings) -> Caller | None:
    """Whose token an Authorization header carries (`settings`: a service's, with a
    session token): the session's, an agent's (`settings.agents`), or nobody's."""
    if token_matches(authorization, settings.auth_token):
        return Caller()
    scheme, _, given = (authorization or "").partition(" ")
    agent = agent_for(settings.agents, given.strip()) if scheme.lower() == "bearer" else None
    return None if agent is None else Caller(agent)


async def require_writer(request: Request) -> Caller:
    """FastAPI dependency for public writes: the session token, or an agent's own
    token; 401 otherwise."""
    settings = request.app.state.settings
    if settings.auth_token is None:
        return Caller()
    caller = caller_for(request.headers.get("authorization"), settings)
    if caller is None:
        raise ApiError(401, "unauthorized", UNAUTHORIZED)
    return caller


Writer = Annotated[Caller, Depends(require_writer)]


def auth_headers(token) -> dict[str, str]:
    """Headers for calling another coedit service with the session token."""
    if token is None:
        return {}
    value = token.get_secret_value() if hasattr(token, "get_secret_value") else token
    return {"Authorization": f"Bearer {value}"}
