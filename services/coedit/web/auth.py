"""Sign-in the way Jupyter does it: open any page with `?token=...` (the URL
`coedit up` prints) and the UI keeps the token in a cookie; the session's token
(`COEDIT_AUTH_TOKEN`) is a person's token. Without it the UI stays read-only. Writes
take the cookie or an `Authorization: Bearer` header; the cookie is SameSite=Strict
and HttpOnly, and writes want a JSON body, so another site cannot make them."""

from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import RedirectResponse

from coedit.common.auth import token_matches
from coedit.common.errors import ApiError

COOKIE = "coedit_token"
COOKIE_DAYS = 30


def valid(request: Request, token: str | None) -> bool:
    expected = request.app.state.settings.auth_token
    if expected is None:
        return True  # a session without a token is open to everyone (development)
    return token is not None and token_matches(f"Bearer {token}", expected)


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:]
    return request.cookies.get(COOKIE)


def signed_in(request: Request) -> bool:
    return valid(request, presented_token(request))


async def require_person(request: Request) -> None:
    """FastAPI dependency for a person's writes: 401 without the token."""
    if not signed_in(request):
        raise ApiError(401, "unauthorized", "sign in: open the UI with ?token=<the session's token>")


async def sign_in(request: Request, call_next):
    """Middleware: a page opened with `?token=` sets the cookie (when the token is
    right) and redirects to the same page without it, so the token leaves the
    address bar and the history."""
    token = request.query_params.get("token")
    if token is None or request.method != "GET" or request.url.path.startswith(("/yjs", "/api")):
        return await call_next(request)
    rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
    response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), status_code=303)
    if valid(request, token):
        response.set_cookie(COOKIE, token, max_age=COOKIE_DAYS * 86400, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
    return response
