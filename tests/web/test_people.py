"""People in the web UI: sign-in with the session's token (a cookie), chat
messages to the agents, pause and resume, restoring a version."""

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from websockets.sync.client import connect

from tests.conftest import AUTH, AUTH_TOKEN
from tests.text_node.yjs import YClient, install
from tests.web.test_pages import eventually


@contextmanager
def signed_in_client(session) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=session.url, timeout=30) as client:
        answer = client.get("/chat", params={"token": AUTH_TOKEN, "agent": "x"})
        assert answer.status_code == 303 and answer.headers["location"] == "/chat?agent=x"
        cookie = answer.headers["set-cookie"]
        assert "coedit_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        yield client


def test_sign_in_keeps_the_token_in_a_cookie_and_a_wrong_one_stays_read_only(session):
    wrong = session.get("/", token="wrong")
    assert wrong.status_code == 303 and wrong.headers["location"] == "/" and "set-cookie" not in wrong.headers
    assert "read-only" in session.get("/").text
    with signed_in_client(session) as client:
        page = client.get("/").text
        assert 'id="pause"' in page and "read-only" not in page
        assert 'id="chat-post"' in client.get("/chat").text
        assert 'id="restore"' in client.get("/document").text
    assert 'id="chat-post"' not in session.get("/chat").text


def test_a_person_posts_to_the_agents_and_the_chat_shows_it_apart(session):
    body = {"author": "Ada Lovelace", "text": "Пусть роботы споют в конце"}
    assert httpx.post(f"{session.url}/api/chat", json=body, timeout=30).status_code == 401
    with signed_in_client(session) as client:
        posted = client.post("/api/chat", json=body)
        assert posted.status_code == 201, posted.text
        assert posted.json()["type"] == "person_message" and posted.json()["agent_id"] == "Ada Lovelace"
        for bad in ({"author": "", "text": "x"}, {"author": "a", "text": ""}, {"text": "x"}):
            refused = client.post("/api/chat", json=bad)
            assert refused.status_code == 422 and refused.json()["error"] == "invalid_request"
        assert 'class="msg kind-person"' in client.get("/chat").text
    people = httpx.get(f"{session.chat.url}/api/messages/people", timeout=30).json()["messages"]
    assert people[-1]["text"] == body["text"]
    # a bearer header works as well as the cookie
    assert httpx.post(f"{session.url}/api/chat", json=body, headers=AUTH, timeout=30).status_code == 201


def test_pause_and_resume_the_session(session):
    assert session.get("/api/session").json()["state"] == "running"
    assert httpx.post(f"{session.url}/api/session/pause", timeout=30).status_code == 401
    with signed_in_client(session) as client:
        try:
            paused = client.post("/api/session/pause", json={"by": "ada"}).json()
            assert (paused["state"], paused["changed_by"]) == ("paused", "ada")
            assert httpx.get(f"{session.chat.url}/api/session", timeout=30).json()["paused"] is True
            assert 'phase-paused' in client.get("/").text
        finally:
            resumed = client.post("/api/session/resume").json()
        assert resumed["state"] == "running" and resumed["paused"] is False


def test_restore_a_version_from_the_web(session):
    before = session.cluster.document("a")["version"]
    session.edit("restore-web-1", "agent-r", {"type": "append", "text": " Временно."})
    with signed_in_client(session) as client:
        answer = client.post("/api/document/restore", json={"version": before, "agent_id": "ada"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["version"] == before + 2
        missing = client.post("/api/document/restore", json={"version": 10**6, "agent_id": "ada"})
        assert missing.status_code == 404 and missing.json()["error"] == "version_not_found"
    assert httpx.post(f"{session.url}/api/document/restore", json={"version": 0, "agent_id": "ada"},
                      timeout=30).status_code == 401


def test_a_person_typing_on_in_their_version_shows_in_the_web(session):
    """A person's changes within a couple of seconds of each other make one version:
    the version number stays while the text changes, and the web's view follows the text."""
    install()
    ada = YClient(session.url, "ada", AUTH_TOKEN)  # through the web's Yjs relay
    try:
        ada.wait_synced()
        ada.call("insert", index=0, text="Первое. ")
        version = eventually(lambda: (d := session.cluster.document("a"))["text"].startswith("Первое. ")
                             and d["version"])
        eventually(lambda: "Первое. " in session.get("/document/version", v=version).text)
        ada.call("type", index=len("Первое. "), text="Второе. ", delay=10)  # the same version
        eventually(lambda: session.cluster.document("a")["text"].startswith("Первое. Второе. "))
        assert session.cluster.document("a")["version"] == version
        eventually(lambda: "Первое. Второе. " in session.get("/document/version", v=version).text,
                   timeout=15, message="the web still shows the person's version as first seen")
        assert "Первое. Второе. " in session.get("/document").text
    finally:
        ada.close()


def test_open_intents_for_the_editor(session):
    session.say({"type": "edit_intent", "agent_id": "agent-w", "intent_id": "people-i1",
                 "summary": "a wish", "anchor": "Роботы"})
    intents = session.get("/api/intents").json()["intents"]
    assert {"agent_id": "agent-w", "anchor": "Роботы", "summary": "a wish"} in intents


def test_no_token_reaches_a_log_line_of_the_session(session):
    """Signing in puts the token in a URL (`?token=`), a cookie and a header, and an
    editor's WebSocket carries it in its URL (through the web to a node, where uvicorn
    logs the URL it accepts): none of them is written to the web's logs, nor to those
    of the services it calls."""
    ws_url = session.url.replace("http://", "ws://") + f"/yjs/document?name=ada&token={AUTH_TOKEN}"
    with connect(ws_url, open_timeout=30) as editor:
        editor.recv(timeout=30)  # the node's first sync message: the relay is up
    with signed_in_client(session) as client:
        client.get("/document")
        assert client.post("/api/chat", json={"author": "Ada", "text": "Проверка журналов"}).status_code == 201
    session.get("/", token=AUTH_TOKEN + "-altered")
    services = [session.web, session.chat, session.analytics, *session.cluster.nodes.values()]
    logs = "".join(service.log_path.read_text(errors="replace") for service in services)
    assert '"path": "/api/chat"' in logs
    assert AUTH_TOKEN not in logs
