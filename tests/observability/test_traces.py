"""Traces cross every hop: the services export OTLP/HTTP to a receiver in the test."""

import json
import time
import urllib.request

from tests.agent.session import session_factory, text_cluster_factory  # noqa: F401
from tests.conftest import AUTH, AUTH_TOKEN

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def wait_for(condition, receiver, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            seen = {trace: sorted({(s.service, s.name) for s in spans}) for trace, spans in receiver.by_trace().items()}
            raise AssertionError(f"no complete trace; received: {seen}")
        time.sleep(0.2)
    return result


def test_an_edit_and_its_replication_to_both_peers_are_one_trace(text_cluster_factory, otlp_receiver):  # noqa: F811
    cluster = text_cluster_factory(env=otlp_receiver.env(), sync_interval=30)
    headers = {**AUTH, "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01", "Content-Type": "application/json"}
    body = {"edit_id": "traced", "agent_id": "agent-1", "op": {"type": "append", "text": " След."}}
    # urllib, not httpx: an in-process test may have instrumented httpx in this
    # process, and it would replace our traceparent with a trace of its own
    request = urllib.request.Request(f"{cluster['a'].url}/api/edits", data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 201

    def complete():
        spans = otlp_receiver.by_trace().get(TRACE_ID, [])
        pushes = [s for s in spans if s.name == "replication.push"]
        received = [s for s in spans if s.name == "POST /internal/records"]
        return spans if len(pushes) >= 2 and len(received) >= 2 else None

    spans = wait_for(complete, otlp_receiver)
    names = {s.name for s in spans}
    assert {"POST /api/edits", "replication.push", "POST /internal/records"} <= names
    assert any(s.name.startswith("INSERT") or "INSERT" in s.attributes.get("db.statement", "") for s in spans)
    assert {s.service for s in spans} == {"coedit-text-node"}
    by_id = {s.span_id: s for s in spans}
    for received in (s for s in spans if s.name == "POST /internal/records"):
        ancestors = []
        while received.parent_id in by_id:
            received = by_id[received.parent_id]
            ancestors.append(received.name)
        assert "replication.push" in ancestors and "POST /api/edits" in ancestors


API_KEY = "sk-coedit-test-0123456789abcdefghij"


def test_one_agent_cycle_is_one_trace_across_every_service(session_factory, otlp_receiver, tmp_path):  # noqa: F811
    session = session_factory(token_budget=100_000, env={**otlp_receiver.env(), "OPENAI_API_KEY": API_KEY,
                                                         "COEDIT_LOG_LEVEL": "debug"})
    agent = session.agent("traced-agent", "--max-edits", "1", "--start-spread", "0")
    assert agent.wait(180) == 0, session.logs("traced-agent")

    def applied_cycle():
        for spans in otlp_receiver.by_trace().values():
            roots = [s for s in spans if s.name == "agent.edit_cycle"]
            if roots and roots[0].attributes.get("coedit.applied") == "bool_value: true\n":
                services = {s.service for s in spans}
                peers = {s.attributes.get("server.port") or s.attributes.get("net.host.port")
                         for s in spans if s.name == "POST /internal/records"}
                if {"coedit-chat", "coedit-analytics", "coedit-fake-llm"} <= services and len(peers) == 2:
                    return spans
        return None

    spans = wait_for(applied_cycle, otlp_receiver)
    names = {s.name for s in spans}
    services = {s.service for s in spans}
    assert services == {"coedit-agent", "coedit-fake-llm", "coedit-text-node", "coedit-chat", "coedit-analytics"}
    # every model phase the cycle ran, each a call the fake model served
    assert {"llm.intent", "llm.generate", "llm.review"} <= names
    assert "POST /v1/chat/completions" in names
    # the edit, its group commit and its push to both peers
    assert {"POST /api/edits", "text.group_commit", "replication.push", "POST /internal/records"} <= names
    # the chat post and its Redis command; the analytics write and its INSERT
    assert "POST /api/messages" in names and "EVALSHA" in names
    assert "POST /api/events" in names
    analytics_inserts = [s for s in spans if s.service == "coedit-analytics" and s.name.startswith("INSERT")]
    assert analytics_inserts
    # a single tree: every span but the root has its parent in the trace
    ids = {s.span_id for s in spans}
    assert [s.name for s in spans if s.parent_id not in ids] == ["agent.edit_cycle"]

    # and no secret reaches a log line or a span attribute
    logs = "".join(path.read_text(errors="replace") for path in tmp_path.glob("*.log"))
    assert "traced-agent" in logs and '"trace_id"' in logs
    attributes = str([s.attributes for s in otlp_receiver.spans])
    for secret in (API_KEY, AUTH_TOKEN):
        assert secret not in logs and secret not in attributes
