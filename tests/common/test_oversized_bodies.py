"""A body over the limit is answered 413 with its JSON body even to a client that
sends all of it before reading anything (the simplest client there is), on a real
uvicorn: the service drains what it refuses instead of resetting the connection."""

import contextlib
import json
import socket

import httpx
import pytest

from coedit.common.app import DRAIN_BYTES
from coedit.common.auth import UNAUTHORIZED
from coedit.local.processes import ServiceProcess
from tests.conftest import AUTH, AUTH_ENV, AUTH_TOKEN

SIX_MB = 6 << 20  # the edit of the issue: over the 1 MiB limit, under what is drained


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    process = ServiceProcess("fake-llm", [], tmp_path_factory.mktemp("oversized"), env=AUTH_ENV).start()
    yield process
    process.stop()


def send_all_then_read(port: int, head: bytes, body: bytes) -> tuple[int, dict]:
    """Write the whole request, then read the whole answer (until the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, content = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower()
    return int(status_line.split()[1]), json.loads(content)


def test_a_body_with_its_length_sent_whole_before_reading_gets_413(service):
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer {AUTH_TOKEN}\r\n"
            f"Content-Length: {SIX_MB}\r\n\r\n").encode()
    assert send_all_then_read(service.port, head, b"x" * SIX_MB) == (
        413, {"error": "payload_too_large", "detail": "body over 1048576 bytes"})


def test_a_chunked_body_sent_whole_before_reading_gets_413(service):
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer {AUTH_TOKEN}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    chunk = b"x" * (1 << 20)
    body = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 6 + b"0\r\n\r\n"
    status, answer = send_all_then_read(service.port, head, body)
    assert (status, answer["error"]) == (413, "payload_too_large")


def test_a_plain_client_post_gets_413_and_the_service_carries_on(service):
    answer = httpx.post(f"{service.url}/v1/chat/completions", content=b"x" * SIX_MB,
                        headers={"Content-Type": "application/json", **AUTH}, timeout=30)
    assert (answer.status_code, answer.json()["error"]) == (413, "payload_too_large")
    assert httpx.get(f"{service.url}/healthz").status_code == 200


def test_a_length_past_what_is_drained_is_answered_before_any_of_the_body(service):
    """Over DRAIN_BYTES the body is not read at all: the answer comes after the headers."""
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer {AUTH_TOKEN}\r\n"
            f"Content-Length: {DRAIN_BYTES + 1}\r\n\r\n").encode()
    status, answer = send_all_then_read(service.port, head, b"")
    assert (status, answer["error"]) == (413, "payload_too_large")


def test_a_small_write_without_a_token_sent_whole_gets_its_401(service):
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1024\r\n\r\n"
    assert send_all_then_read(service.port, head, b"x" * 1024) == (401, {"error": "unauthorized", "detail": UNAUTHORIZED})


def test_a_big_write_without_a_token_is_not_read_the_connection_ends(service):
    """Auth before the body: a chunked body still streaming is refused before the
    rest is read; the server ends the connection (a close, or a reset for what it
    left unread) instead of waiting for the rest, and carries on."""
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * (1 << 20)
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        sock.sendall(head + b"%x\r\n" % len(chunk) + chunk + b"\r\n")  # more to come, never sent
        with contextlib.suppress(ConnectionResetError):
            while sock.recv(65536):  # until the server ends it (30 s: a timeout fails the test)
                pass
    assert httpx.get(f"{service.url}/healthz").status_code == 200
