"""The live view's derived state, without services: agent states, chat resume,
edit-log pages, session phase."""

from datetime import UTC, datetime, timedelta

import pytest

from coedit.chat.models import SessionCompletion, SessionState
from coedit.web.hub import Hub
from coedit.web.live import Monitor, NodeState
from coedit.web.settings import WebSettings
from coedit.web.upstream import Upstream

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def at(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def monitor() -> Monitor:
    settings = WebSettings(text_nodes="http://a,http://b", chat_url="http://chat", insecure_no_auth=True)
    return Monitor(settings, Upstream(settings), Hub())


def message(n: int, agent: str, kind: str = "edit_comment", seconds_ago: float = 1, **fields) -> dict:
    return {"id": f"{1000 + n}-0", "ts": at(seconds_ago), "agent_id": agent, "type": kind,
            "text": "hi", **fields}


def states(monitor: Monitor) -> dict[str, str]:
    return {a.agent_id: a.state for a in monitor.agents(now=NOW)}


def test_agent_state_from_chat_and_analytics(monitor: Monitor):
    for m in [message(1, "ada", "edit_intent", intent_id="i", summary="s", anchor="a"),
              message(2, "bob", seconds_ago=5),
              message(3, "cy", seconds_ago=600)]:
        monitor._remember(m)
    monitor.agent_figures = [{"agent_id": "dan", "last_seen": at(3), "edits_applied": 2, "tokens": 9}]
    assert states(monitor) == {"ada": "writing", "bob": "active", "cy": "idle", "dan": "active"}
    ada = monitor.agents(now=NOW)[0]
    assert ada.last_action == "intent: s" and ada.last_type == "edit_intent"


def test_runner_state_wins_unless_running(monitor: Monitor):
    monitor._remember(message(1, "agent-1"))
    monitor._remember(message(2, "agent-2"))
    monitor.agent_status = {"agent-1": {"agent_id": "agent-1", "state": "running"},
                            "agent-2": {"agent_id": "agent-2", "state": "restarting"},
                            "agent-3": {"agent_id": "agent-3", "state": "finished", "detail": "exited 0"}}
    assert states(monitor) == {"agent-1": "active", "agent-2": "restarting", "agent-3": "finished"}
    assert monitor.agents(now=NOW)[2].last_action == "exited 0"


def test_spent_budget_stops_everyone(monitor: Monitor):
    monitor._remember(message(1, "ada"))
    monitor.budget = {"limit": 10, "spent": 10, "remaining": 0, "exhausted": True}
    monitor.nodes[0].up = True
    assert states(monitor) == {"ada": "stopped"}
    assert monitor.phase == "completed"


def test_a_stop_the_runner_told_the_chat_completes_the_session(monitor: Monitor):
    """The operator's stop conditions (versions, duration, money) reach the web only
    through the chat's session state; the page shows the reason."""
    monitor.nodes[0].up = True
    monitor.session_state(SessionState(paused=True))
    assert (monitor.phase, monitor.completion_message) == ("paused", None)
    monitor.session_state(SessionState(paused=True, completion=SessionCompletion(
        reason="MaxVersions", message="the document reached 40 versions")))
    assert (monitor.phase, monitor.completion_message) == ("completed", "the document reached 40 versions")
    monitor.session_state(SessionState())  # a chat told nothing more keeps what it said
    assert monitor.phase == "completed"


def test_phase_and_degraded(monitor: Monitor):
    assert monitor.phase == "starting"
    monitor.nodes[0].up, monitor.nodes[1].up = True, False
    monitor.nodes[1].node_id = "b"
    monitor.chat.up = False
    assert monitor.phase == "degraded"
    assert monitor.degraded == ["text node b down", "chat down"]
    monitor.nodes[0].up = False
    assert monitor.phase == "down"


def test_lag_is_counted_against_the_most_advanced_node(monitor: Monitor):
    monitor.nodes = [NodeState("http://a", "a", True, 10), NodeState("http://b", "b", True, 7),
                     NodeState("http://c", "c", False, None)]
    assert [monitor.node_lag(n) for n in monitor.nodes] == [0, 3, None]


def test_chat_resume_after_an_id(monitor: Monitor):
    for n in range(5):
        monitor._remember(message(n, "ada"))
    monitor._remember(message(2, "ada"))  # a repeat from a reconnect is ignored
    assert [m["id"] for m in monitor.messages_after("1002-0")] == ["1003-0", "1004-0"]
    assert monitor.messages_after("1004-0") == []
    assert monitor.messages_after("5-0") is None  # older than what is kept


def test_edit_log_pages_newest_first(monitor: Monitor):
    monitor.edits = [{"version": v} for v in range(1, 121)]
    assert [e["version"] for e in monitor.edits_page()][:2] == [120, 119]
    assert len(monitor.edits_page()) == 50
    assert [e["version"] for e in monitor.edits_page(before=3)] == [2, 1]
    assert [e["version"] for e in monitor.edits_between(5, 8, limit=100)] == [6, 7, 8]
    assert monitor.edit(120) == {"version": 120} and monitor.edit(0) is None


async def test_only_a_version_with_a_successor_keeps_its_text_cached(monitor: Monitor):
    """A person typing on in the latest version changes its text without a new version
    number: that text is fetched anew each time, an older version's once."""
    from coedit.web.authorship import Authorship
    from coedit.text_node.models import VersionText

    monitor.authorship = Authorship("v3", version=3)
    served: list[int] = []

    async def version_text(version: int) -> VersionText:
        served.append(version)
        return VersionText(version=version, text=f"text {version} #{len(served)}")

    monitor.upstream.nodes["http://a"].version_text = version_text
    assert await monitor.version_text(2) == await monitor.version_text(2) == "text 2 #1"
    assert await monitor.version_text(4) == "text 4 #2"  # the node is ahead of the web: not final yet
    assert await monitor.version_text(4) == "text 4 #3"
    assert await monitor.version_text(3) == "v3" and served == [2, 4, 4]
