"""Hostile input at every service's write endpoints, over the whole session: each
gets a clear 4xx with a JSON body, nothing is stored, every service stays healthy;
and what an agent may name itself is shown escaped by the web UI. (The text node's
own cases, edits and internal routes, are in tests/text_node/test_bad_input.py.)"""

import json

import httpx
import pytest

from tests.conftest import AUTH
from tests.web.conftest import Session

DEEP = 100_000  # nesting levels, in 200 kB: under every body limit, past every parser's depth

# per endpoint: a valid body, the field that takes text, the field that takes a number
ENDPOINTS = {
    "text node edit": ("text", "/api/edits", {"edit_id": "hostile", "agent_id": "ada", "op": {"type": "append", "text": "x"}},
                       ("op", "text"), ("tokens",)),
    "text node spend": ("text", "/api/budget/spend", {"spend_id": "hostile", "agent_id": "ada", "tokens": 1},
                        ("agent_id",), ("tokens",)),
    "chat message": ("chat", "/api/messages", {"type": "edit_operation", "agent_id": "ada", "intent_id": "i",
                                               "edit_id": "e", "version": 1, "op": "append"},
                     ("intent_id",), ("version",)),
    "analytics event": ("analytics", "/api/events", [{"event_id": "hostile", "type": "llm_call", "agent_id": "ada",
                                                      "phase": "generate", "model": "m", "prompt_tokens": 1,
                                                      "completion_tokens": 1, "latency_ms": 1.0}],
                        (0, "model"), (0, "latency_ms")),
    "web chat post": ("web", "/api/chat", {"author": "Ann", "text": "hi"}, ("text",), None),
}


def _set(body, path: tuple, value):
    body = json.loads(json.dumps(body))
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


def _raw(body, path: tuple, literal: str) -> bytes:
    """The body as JSON with the value at `path` replaced by `literal` as written."""
    marker = "\u2603hostile\u2603"
    return json.dumps(_set(body, path, marker)).replace(json.dumps(marker), literal).encode("utf-8", "surrogatepass")


def hostile_cases():
    for name, (service, path, body, text, number) in ENDPOINTS.items():
        cases = {
            "deep JSON": _raw(body, text, "[" * DEEP + "]" * DEEP),
            "invalid UTF-8": _raw(body, text, '"a\xff"').replace("ÿ".encode(), b"\xff"),
            "NUL": _raw(body, text, r'"a\u0000b"'),
            "lone surrogate": _raw(body, text, r'"a\ud800b"'),
            "unknown field": json.dumps(_set(body, text[:-1] + ("colour",), "red")).encode(),
            "not JSON": b"{not json",
        }
        if number:
            cases |= {"huge number": _raw(body, number, "1e400"), "2**80": _raw(body, number, str(2**80)),
                      "negative number": _raw(body, number, "-1")}
        for case, content in cases.items():
            yield pytest.param(service, path, content, id=f"{name}: {case}")


def snapshot(session: Session) -> dict:
    """What the services hold that any of these requests could have added to."""
    node = session.cluster["a"].url
    return {
        "document": httpx.get(f"{node}/api/document", timeout=30).json(),
        "budget": httpx.get(f"{node}/api/budget", timeout=30).json()["spent"],
        "chat": httpx.get(f"{session.chat.url}/api/messages", params={"limit": 1000}, timeout=30).json(),
        "events": httpx.get(f"{session.analytics.url}/api/agents", params={"window": "7d"}, timeout=30).json()["agents"],
    }


def url_of(session: Session, service: str) -> str:
    return {"text": session.cluster["a"].url, "chat": session.chat.url,
            "analytics": session.analytics.url, "web": session.url}[service]


@pytest.mark.parametrize("service, path, content", hostile_cases())
def test_hostile_bodies_are_refused_and_change_nothing(session: Session, service, path, content):
    before = snapshot(session)
    answer = httpx.post(f"{url_of(session, service)}{path}", content=content, timeout=30,
                        headers={**AUTH, "Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text[:500]
    assert answer.json()["error"] == "invalid_request"
    assert snapshot(session) == before
    for name in ("text", "chat", "analytics", "web"):
        assert httpx.get(f"{url_of(session, name)}/readyz", timeout=30).status_code == 200, name


@pytest.mark.parametrize("name", ["Ann\u0000", "Ann\nBob", "A" * 101])
def test_a_persons_name_that_is_not_a_name_is_refused(session: Session, name):
    before = snapshot(session)
    answer = httpx.post(f"{session.url}/api/chat", json={"author": name, "text": "hi"}, headers=AUTH, timeout=30)
    assert (answer.status_code, answer.json()["error"]) == (422, "invalid_request")
    assert snapshot(session) == before


def test_names_with_markup_are_shown_escaped(session: Session):
    """A person's name and an agent's id may hold any printable text: the UI shows it as text."""
    answer = httpx.post(f"{session.url}/api/chat", json={"author": "<script>alert('person')</script>", "text": "hi"},
                        headers=AUTH, timeout=30)
    assert answer.status_code == 201, answer.text
    session.say({"type": "edit_comment", "agent_id": "<script>alert('agent')</script>", "text": "hello"})
    html = session.get("/chat").text
    for who in ("person", "agent"):
        assert f"&lt;script&gt;alert(&#39;{who}&#39;)&lt;/script&gt;" in html
    assert "<script>alert" not in html
