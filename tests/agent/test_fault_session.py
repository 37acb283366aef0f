"""A live session through faults: six agents on the fake model (with its error and
invalid-JSON rates) and a writer of marked edits, node c's clock an hour ahead all
along, while text nodes are SIGKILLed five times (every node, b twice in quick
succession), each restarted at once, then node a is partitioned from the rest and
healed, node c's PostgreSQL is stopped and started, Redis is SIGKILLed and
restarted, and analytics is SIGKILLed and restarted a while later. After each fault the agents go on editing; at the end every
acknowledged marked edit is on every node once, no answer was other than 201 or
503, every edit announced in the chat is in the document's log, the nodes converge,
and analytics counted every applied edit (the agents kept their events while it
was away)."""

import os
import signal
import time

import httpx
import pytest

from coedit.local.servers import stop_group
from tests.agent.session import Session, converged, session_factory, text_cluster_factory, wait_all  # noqa: F401
from tests.conftest import AUTH
from tests.figures import report
from tests.text_node.conftest import links  # noqa: F401
from tests.text_node.test_clock import LIBFAKETIME, off_by
from tests.text_node.test_faults import MarkedWriter

AGENTS = 6
SIGKILLED = "bbcac"  # in this order, one second apart

pytestmark = pytest.mark.timeout(600)


class AgentEdits:
    """Counts the agents' edits on node a, reading only the versions added since the
    last count (a node's versions are never renumbered): reading the whole log every
    0.3 s, thousands of marked edits, was most of the load this test put on node a."""

    def __init__(self, session: Session):
        self.session, self.after, self.count = session, 0, 0

    def __call__(self) -> int:
        for edit in self.session.edits("a", after=self.after):
            self.after = edit["version"]
            self.count += edit["agent_id"].startswith("agent-")
        return self.count


def wait_for_progress(agent_edits: AgentEdits, more: int = 2, timeout: float = 120) -> float:
    """Seconds until the agents applied `more` edits (seen on node a)."""
    started = time.monotonic()
    target = agent_edits() + more
    while agent_edits() < target:
        assert time.monotonic() - started < timeout, "the agents made no progress"
        time.sleep(0.3)
    return round(time.monotonic() - started, 1)


def test_agents_and_a_writer_carry_on_through_kills_partition_storage_redis_and_analytics_faults(  # noqa: F811
        session_factory, links, redis_server):
    skew = {"node_env": {"c": off_by("+1h")}} if LIBFAKETIME.exists() else {}
    session = session_factory(token_budget=10_000_000, text_options={"peer_url": links.url, **skew},
                              model_args=["--error-rate", "0.05", "--invalid-json-rate", "0.05"],
                              chat_args=["--max-len", "1000000"])  # keep every message (1,000 by default)
    agents = {f"agent-{n}": session.agent(f"agent-{n}", "--start-spread", "1") for n in range(AGENTS)}
    agent_edits = AgentEdits(session)
    writer = MarkedWriter(session.text, 0, pause=0.2)
    writer.start()
    try:
        figures = {"first_edits_s": wait_for_progress(agent_edits), "clock_skewed": bool(skew)}

        for node in SIGKILLED:
            session.text[node].kill()
            session.text[node].start()
            time.sleep(1)
        figures["progress_after_sigkills_s"] = wait_for_progress(agent_edits)

        links.partition({"a"})
        time.sleep(3)
        links.heal()
        figures["progress_after_partition_s"] = wait_for_progress(agent_edits)

        database = session.text.databases["c"]
        database.stop()  # a fast shutdown, as `pg_ctl stop -m fast`
        time.sleep(3)
        try:
            refused = httpx.post(f"{session.text['c'].url}/api/edits", headers=AUTH, timeout=10, json={
                "edit_id": "while-pg-away", "agent_id": "tester", "op": {"type": "append", "text": " x"}})
        except httpx.TimeoutException:
            pytest.fail(f"node c hung while its database was away; its log ends:\n{session.text['c'].logs()}")
        assert (refused.status_code, refused.json()["error"]) == (503, "storage_unavailable")
        database.start()
        figures["progress_after_postgres_s"] = wait_for_progress(agent_edits)

        stop_group(redis_server.process, signal.SIGKILL, timeout=5)
        time.sleep(2)
        away = httpx.get(f"{session.chat.url}/api/messages", timeout=10)
        assert (away.status_code, away.json()["error"]) == (503, "redis_unavailable")
        redis_server.start()
        figures["progress_after_redis_s"] = wait_for_progress(agent_edits)

        session.analytics.kill()
        time.sleep(4)
        session.analytics.start()
        figures["progress_after_analytics_s"] = wait_for_progress(agent_edits)

        writer.stopping.set()
        writer.join(30)
        for process in agents.values():
            os.killpg(process.pid, signal.SIGTERM)  # a clean stop: the agents flush what they hold
        wait_all(agents, session, timeout=120)
    finally:  # whatever failed, no agent (nor the writer) outlives the test
        writer.stopping.set()
        for process in agents.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)

    converged(session, ["a", "b", "c"])
    text, edits = session.text.document("a")["text"], session.edits("a")
    assert writer.wrong == [] and len(writer.acknowledged) > 20
    assert "while-pg-away" not in {e["edit_id"] for e in edits}
    assert all(text.count(mark) == 1 for mark in writer.acknowledged)
    for node in "bc":
        assert session.edits(node) and {e["edit_id"] for e in session.edits(node)} == {e["edit_id"] for e in edits}
    messages = session.messages()
    operations = {m["edit_id"] for m in messages if m["type"] == "edit_operation"}
    assert operations <= {e["edit_id"] for e in edits}
    summary, applied = session.summary(), AgentEdits(session)()  # counted afresh from version 1
    assert summary["edits_applied"] == applied == len(operations)
    assert summary["active_agents"] == AGENTS
    report("agent/test_fault_session", agents=AGENTS, agent_edits=applied,
           marked_acknowledged=len(writer.acknowledged), marked_lost=0, marked_unknown=len(writer.unknown),
           announced_in_chat=len(operations), counted_by_analytics=summary["edits_applied"], **figures)
