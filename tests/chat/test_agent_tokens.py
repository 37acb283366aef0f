"""Per-agent tokens and write rates on a real chat process: an agent's own token
posts only as that agent; the session token posts as anyone; over its rate an agent
gets 429 + Retry-After, and may post again once the window has passed."""

import time

import httpx
import pytest

from tests.chat.conftest import comment
from tests.conftest import AUTH

ADA, BOB = "ada-token-0123456789", "bob-token-0123456789"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def start_chat(redis_server, service_factory):
    def start(*flags: str):
        env = {"COEDIT_AGENT_TOKENS": f"ada={ADA}\nbob={BOB}"}
        return service_factory("chat", ["--redis-url", redis_server.url, *flags], env=env).start()
    return start


def texts(http: httpx.Client) -> list[tuple[str, str]]:
    return [(m["agent_id"], m["text"]) for m in http.get("/api/messages").json()["messages"]]


def test_an_agent_token_posts_only_as_its_agent(start_chat):
    chat = start_chat()
    with httpx.Client(base_url=chat.url, timeout=30) as http:
        assert http.post("/api/messages", json=comment(1, "ada"), headers=bearer(ADA)).status_code == 201
        forged = http.post("/api/messages", json=comment(2, "bob"), headers=bearer(ADA))
        assert forged.status_code == 403, forged.text
        assert forged.json()["error"] == "agent_mismatch"
        assert http.post("/api/messages", json=comment(3, "carol"), headers=AUTH).status_code == 201
        assert http.post("/api/messages", json=comment(4, "ada"),
                         headers=bearer("not-a-known-token-123")).status_code == 401
        # pausing the session is the session token's (people and `coedit up`), not an agent's
        assert http.post("/api/session/pause", json={"by": "ada"}, headers=bearer(ADA)).status_code == 401
        assert texts(http) == [("ada", "message 1"), ("carol", "message 3")]


def test_agent_write_rate(start_chat):
    # four writes in a 5-s window: well inside it even on a loaded machine
    chat = start_chat("--agent-writes-per-minute", "3", "--agent-writes-window", "5")
    with httpx.Client(base_url=chat.url, timeout=30) as http:
        for n in range(3):
            assert http.post("/api/messages", json=comment(n, "ada"), headers=bearer(ADA)).status_code == 201
        over = http.post("/api/messages", json=comment(99, "ada"), headers=AUTH)  # by agent_id, any token
        assert over.status_code == 429, over.text
        assert over.json()["error"] == "rate_limited"
        wait = int(over.headers["Retry-After"])
        assert 1 <= wait <= 5
        assert http.post("/api/messages", json=comment(5, "bob"), headers=bearer(BOB)).status_code == 201
        assert ("ada", "message 99") not in texts(http)

        time.sleep(wait)
        deadline = time.monotonic() + 20  # generous: the machine is shared
        while (again := http.post("/api/messages", json=comment(6, "ada"), headers=bearer(ADA))).status_code == 429:
            assert time.monotonic() < deadline, again.text
            time.sleep(0.5)
        assert again.status_code == 201, again.text


def test_agent_tokens_come_from_the_environment_and_a_file(tmp_path, monkeypatch):
    from pydantic import ValidationError

    from coedit.chat.settings import ChatSettings

    path = tmp_path / "agents"
    path.write_text(f"# agents\nbob={BOB}\n")
    monkeypatch.setenv("COEDIT_AUTH_TOKEN", "session-token-0123456789")
    monkeypatch.setenv("COEDIT_AGENT_TOKENS", f"ada={ADA}")
    assert ChatSettings(agent_tokens_file=path).agents == {ADA.encode(): "ada", BOB.encode(): "bob"}
    monkeypatch.setenv("COEDIT_AGENT_TOKENS", "ada=session-token-0123456789")
    with pytest.raises(ValidationError, match="is the session token"):
        ChatSettings()
    monkeypatch.delenv("COEDIT_AUTH_TOKEN")
    monkeypatch.setenv("COEDIT_AGENT_TOKENS", f"ada={ADA}")
    with pytest.raises(ValidationError, match="need the session token"):
        ChatSettings(insecure_no_auth=True)
