"""The service skeleton every coedit service is built on."""

import json

import httpx
import pytest
import structlog
from pydantic import SecretStr

from coedit.common.app import create_service_app
from coedit.common.auth import require_token
from coedit.common.errors import ApiError
from coedit.common.settings import ServiceSettings
from fastapi import Depends


@pytest.fixture
def app():
    settings = ServiceSettings(auth_token=SecretStr("s3cret"))
    state = {"ready": False}

    async def readiness():
        return state["ready"], {"database": "migrating"}

    app = create_service_app("test", settings, readiness=readiness, max_body_bytes=100)

    @app.post("/api/things", dependencies=[Depends(require_token)])
    async def create_thing(thing: dict):
        if thing.get("bad"):
            raise ApiError(409, "thing_conflict", "that thing exists")
        structlog.get_logger("test").info("thing created")
        return {"ok": True}

    @app.get("/api/things")
    async def list_things():
        return []

    app.state.test_state = state
    return app


async def call(app, method, path, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.request(method, path, **kwargs)


async def test_health_and_readiness(app):
    assert (await call(app, "GET", "/healthz")).json() == {"status": "ok", "service": "test"}
    answer = await call(app, "GET", "/readyz")
    assert (answer.status_code, answer.json()) == (503, {"ready": False, "database": "migrating"})
    app.state.test_state["ready"] = True
    assert (await call(app, "GET", "/readyz")).status_code == 200


async def test_writes_need_the_bearer_token(app):
    answer = await call(app, "POST", "/api/things", json={})
    assert (answer.status_code, answer.json()["error"]) == (401, "unauthorized")
    answer = await call(app, "POST", "/api/things", json={}, headers={"Authorization": "Bearer s3cret"})
    assert answer.status_code == 200


async def test_errors_are_json_with_a_stable_code(app):
    auth = {"Authorization": "Bearer s3cret"}
    answer = await call(app, "POST", "/api/things", json={"bad": 1}, headers=auth)
    assert answer.json() == {"error": "thing_conflict", "detail": "that thing exists"}
    answer = await call(app, "POST", "/api/things", content=b"[", headers={**auth, "Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["error"]) == (422, "invalid_request")
    answer = await call(app, "POST", "/api/things", content=b"x" * 101, headers=auth)
    assert (answer.status_code, answer.json()["error"]) == (413, "payload_too_large")
    assert (await call(app, "GET", "/nowhere")).json()["error"] == "not_found"


async def test_log_lines_are_json_with_the_request_id(app, capsys):
    from coedit.common.logging import configure_logging

    configure_logging("test")  # binds the handler to the captured stdout
    headers = {"Authorization": "Bearer s3cret", "X-Request-ID": "0f0e0d0c0b0a09080706050403020100"}
    answer = await call(app, "POST", "/api/things", json={}, headers=headers)
    assert answer.headers["X-Request-ID"] == headers["X-Request-ID"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    ours = [line for line in lines if line.get("request_id") == headers["X-Request-ID"]]
    assert {line["event"] for line in ours} >= {"thing created", "request"}
    assert all(line["service"] == "test" and "timestamp" in line for line in ours)
    assert "s3cret" not in json.dumps(lines)


async def test_metrics_are_prometheus_text_labelled_by_route(app):
    await call(app, "POST", "/api/things", json={})
    answer = await call(app, "GET", "/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    assert 'coedit_http_request_duration_seconds_count{method="POST",route="/api/things",status="401"}' in answer.text


async def test_without_an_exporter_log_lines_still_carry_the_callers_trace_id(app, capsys):
    from coedit.common.logging import configure_logging

    configure_logging("test")
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"Authorization": "Bearer s3cret", "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    assert (await call(app, "POST", "/api/things", json={}, headers=headers)).status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    ours = [line for line in lines if line["event"] in ("thing created", "request")]
    assert len(ours) == 2 and {line["trace_id"] for line in ours} == {trace_id}


async def test_routine_reads_log_no_info_line_but_writes_and_errors_do(app, capsys):
    """A UI polling all day once filled most of a session's logs at info."""
    from coedit.common.logging import configure_logging

    configure_logging("test")
    assert (await call(app, "GET", "/api/things")).status_code == 200
    await call(app, "GET", "/api/things/nowhere")
    await call(app, "POST", "/api/things", json={}, headers={"Authorization": "Bearer s3cret"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    logged = [(line["method"], line["status"]) for line in lines if line["event"] == "request"]
    assert logged == [("GET", 404), ("POST", 200)]


def test_a_token_in_a_logged_url_is_redacted(capsys):
    """uvicorn logs a WebSocket's URL, where browsers carry their token."""
    import logging

    from coedit.common.logging import configure_logging

    configure_logging("test")
    logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5",
                                            "/yjs/document?name=ada&token=s3cret-0123456789&key=k2")
    line = capsys.readouterr().out
    assert "s3cret" not in line and "k2" not in line
    assert "/yjs/document?name=ada&token=[redacted]&key=[redacted]" in line
