"""The pages and the live stream over a real session (HTTP level; the browser
tests check what a person sees)."""

import json
import re
import time

import httpx
import pytest

from tests.text_node.conftest import INITIAL_TEXT
from tests.web.conftest import Session


def eventually(check, timeout: float = 60, message: str = ""):
    """Retry `check` until it returns something truthy (no timing asserted)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message or f"{check} never held")
        time.sleep(0.1)


def web_version(session: Session) -> int:
    return session.get("/readyz").json()["version"]


@pytest.fixture(scope="module")
def history(session: Session) -> int:
    """Three edits by two agents, with chat and analytics about them; answers the
    version before them (other test modules write to the same session)."""
    base = web_version(session)
    session.edit("h-1", "ada", {"type": "insert_after", "anchor": "здесь.", "text": " Дроны охраняли сад."},
                 intent_id="i-1", summary="добавить дронов")
    session.edit("h-2", "bob", {"type": "replace", "anchor": "сказки", "text": "истории"}, node="b",
                 intent_id="i-2", summary="истории вместо сказок")
    session.edit("h-3", "ada", {"type": "append", "text": " Конец."}, node="c")
    session.say({"type": "edit_intent", "agent_id": "ada", "intent_id": "i-1",
                 "summary": "добавить дронов", "anchor": "здесь."})
    session.say({"type": "edit_operation", "agent_id": "ada", "intent_id": "i-1", "edit_id": "h-1",
                 "version": base + 1, "op": "insert_after"})
    session.report(
        {"event_id": "w-1", "type": "llm_call", "agent_id": "ada", "phase": "generate",
         "model": "fake", "prompt_tokens": 800, "completion_tokens": 200, "latency_ms": 120.0,
         "cost_usd": 0.0123},
        {"event_id": "w-2", "type": "edit_applied", "agent_id": "ada", "edit_id": "h-1", "version": base + 1},
        {"event_id": "w-3", "type": "edit_applied", "agent_id": "bob", "edit_id": "h-2", "version": base + 2},
    )
    eventually(lambda: web_version(session) >= base + 3, message="the web never saw the edits")
    eventually(lambda: "bob" in session.get("/").text, message="the web never saw the analytics")
    return base


def test_overview_shows_nodes_budget_and_agents(session: Session, history: int):
    html = session.get("/").text
    for node in ("a", "b", "c"):
        assert f'<span class="node-name">{node}</span>' in html
    assert "tokens spent" in html
    assert "ada" in html and "bob" in html
    assert 'class="phase phase-running"' in html


def test_document_page_shows_text_authorship_and_the_latest_diff(session: Session, history: int):
    html = session.get("/document").text
    assert re.search(r'title="ada">[^<]* Дроны охраняли сад\.[^<]*</span>', html)
    assert re.search(r'title="bob">[^<]*истории[^<]*</span>', html)
    assert "<ins>" in html


def test_diff_between_two_versions_shows_the_inserted_sentence_and_the_edits_behind(session: Session, history: int):
    html = session.get("/document/diff", **{"from": history, "to": history + 3}).text
    inserted = " ".join(re.findall(r"<ins>(.*?)</ins>", html, re.S))
    # where a repeated phrase lets the insertion sit is the diff's choice; the words are not
    assert sorted(inserted.split()) == sorted("Дроны охраняли сад. истории Конец.".split())
    assert "<del>сказки </del><ins>истории </ins>" in html
    assert "добавить дронов" in html and "истории вместо сказок" in html


def test_version_fragment_gives_the_text_and_the_edit(session: Session, history: int):
    html = session.get("/document/version", v=0).text
    assert INITIAL_TEXT in html and "the initial text" in html
    html = session.get("/document/version", v=history + 1).text
    assert "добавить дронов" in html and "h-1" in html


def test_missing_version_is_shown_as_unavailable(session: Session, history: int):
    html = session.get("/document/version", v=999_999).text
    assert "version 999999 is unavailable" in html


def test_chat_page_escapes_agent_text(session: Session, history: int):
    session.say({"type": "edit_comment", "agent_id": "mallory", "text": "<script>alert(1)</script> & <b>bold</b>"})
    html = session.get("/chat").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "<script>alert" not in html


def test_analytics_page_draws_charts_and_the_agent_table(session: Session, history: int):
    for window in ("1h", "24h", "7d"):
        html = session.get("/analytics", window=window).text
        assert html.count('<rect class="bar"') > 0, window
        assert "Tokens" in html and "Edits applied" in html and "Active agents" in html
        table = html[html.index('<table class="per-agent">'):]
        assert "ada" in table and "bob" in table
        assert "$0.0123" in table  # money beside tokens
    assert "<dt>cost</dt><dd>$0.0123</dd>" in session.get("/").text


def test_bad_query_is_422_with_json(session: Session, history: int):
    for path, params in [("/analytics", {"window": "2h"}), ("/document", {"v": -1}),
                         ("/chat", {"before": "x"}), ("/events", {"topics": "nope"})]:
        response = session.get(path, **params)
        assert response.status_code == 422, path
        assert response.json()["error"] == "invalid_request"


def test_pages_carry_a_strict_content_security_policy(session: Session, history: int):
    policy = session.get("/").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy


def read_events(response: httpx.Response):
    event: dict = {}
    for line in response.iter_lines():
        if not line:
            if "data" in event:
                yield event.get("event"), event.get("id"), json.loads(event["data"])
            event = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            event[field] = value.removeprefix(" ")


def test_events_stream_new_versions_and_chat_messages(session: Session, history: int):
    with httpx.stream("GET", f"{session.url}/events", params={"topics": "document,chat"},
                      timeout=60) as response:
        events = read_events(response)
        names = [next(events)[0], next(events)[0]]
        assert names == ["status", "version"]  # the snapshot
        start = web_version(session)
        session.edit("live-1", "cy", {"type": "append", "text": " Новая глава."})
        message = session.say({"type": "edit_comment", "agent_id": "cy", "text": "глава готова"})
        seen_version = seen_chat = False
        for name, event_id, data in events:
            if name == "version" and data["version"] > start:
                seen_version = "Новая глава." in data["html"]["document-live"]
            if name == "chat" and event_id == message["id"]:
                seen_chat = "глава готова" in data["html"]
            if seen_version and seen_chat:
                break


def test_reconnecting_reader_gets_the_chat_messages_it_missed(session: Session, history: int):
    first = session.say({"type": "edit_comment", "agent_id": "cy", "text": "до обрыва"})
    missed = session.say({"type": "edit_comment", "agent_id": "cy", "text": "пока не было связи"})
    eventually(lambda: "пока не было связи" in session.get("/").text)  # the relay has it
    with httpx.stream("GET", f"{session.url}/events", params={"topics": "chat"},
                      headers={"Last-Event-ID": first["id"]}, timeout=60) as response:
        for name, event_id, data in read_events(response):
            if name == "chat":
                assert event_id == missed["id"]
                break
