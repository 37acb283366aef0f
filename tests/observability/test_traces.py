"""Traces cross every hop: the services export OTLP/HTTP to a receiver in the test."""

import time

import httpx

from tests.conftest import AUTH
from tests.text_node.conftest import text_cluster_factory  # noqa: F401

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def wait_for(condition, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return result


def test_an_edit_and_its_replication_to_both_peers_are_one_trace(text_cluster_factory, otlp_receiver):  # noqa: F811
    cluster = text_cluster_factory(env=otlp_receiver.env(), sync_interval=30)
    headers = {**AUTH, "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    body = {"edit_id": "traced", "agent_id": "agent-1", "op": {"type": "append", "text": " След."}}
    assert httpx.post(f"{cluster['a'].url}/api/edits", json=body, headers=headers).status_code == 201

    def complete():
        spans = otlp_receiver.by_trace().get(TRACE_ID, [])
        pushes = [s for s in spans if s.name == "replication.push"]
        received = [s for s in spans if s.name == "POST /internal/records"]
        return spans if len(pushes) == 2 and len(received) == 2 else None

    spans = wait_for(complete)
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
