"""Errors as JSON with a stable `error` code, the contract every client relies on."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """Raise from a route to answer `{"error": code, "detail": ...}` with `status`
    (and `headers`, e.g. `Retry-After`)."""

    def __init__(self, status: int, error: str, detail: str | None = None,
                 headers: dict[str, str] | None = None, **extra):
        self.status, self.error, self.detail, self.extra = status, error, detail, extra
        self.headers = headers
        super().__init__(f"{status} {error}: {detail}")

    def body(self) -> dict:
        body = {"error": self.error, **self.extra}
        if self.detail:
            body["detail"] = self.detail
        return body


class ErrorBody(BaseModel):
    """The body of every error answer (some add fields of their own, e.g. `matches`)."""

    model_config = ConfigDict(extra="allow")
    error: str = Field(description="a stable code, e.g. `invalid_request` or `budget_exhausted`")
    detail: str | list[dict[str, Any]] | None = Field(
        None, description="for people; for `invalid_request`, one entry per problem")


_MEANINGS = {
    401: "no token, or not the service's",
    403: "not this caller's to do",
    404: "no such thing here",
    409: "conflicts with the current state",
    413: "the body, or a value in it, is over its limit",
    422: "not a valid request (each problem in `detail`)",
    429: "over a limit (a budget spent, too many connections, an agent's write rate)",
    503: "a dependency is unavailable; retry",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a router or route: each status documented with the error body,
    so the OpenAPI says every status the route can answer and what it carries."""
    return {status: {"model": ErrorBody, "description": _MEANINGS[status]} for status in statuses}


def _unparsable(exc: StarletteHTTPException) -> bool:
    """FastAPI answers a body it cannot decode (invalid UTF-8, nesting too deep) 400,
    raised from the decoding error; malformed JSON is 422 everywhere else, so this is too."""
    return exc.status_code == 400 and exc.__cause__ is not None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError):
        problems = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        return JSONResponse({"error": "invalid_request", "detail": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        if _unparsable(exc):
            problem = {"loc": ["body"], "msg": "the body is not valid UTF-8 JSON", "type": "json_invalid"}
            return JSONResponse({"error": "invalid_request", "detail": [problem]}, status_code=422)
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )
