"""An outside agent's edit is one trace: the MCP tool call, the text node and its
replication to both peers, the chat and analytics."""

import pytest
from opentelemetry import propagate
from opentelemetry.propagators.composite import CompositePropagator

from tests.conftest import AUTH_TOKEN
from tests.mcp_server.conftest import TOKENS, call
from tests.observability.conftest import otlp_receiver  # noqa: F401 (a fixture)
from tests.observability.test_traces import wait_for


@pytest.fixture
def untraced_client():
    """The outside agent passes on no trace context: its trace starts at the MCP
    server. (An in-process test may have set up tracing in this process with a
    sampler that records nothing; the MCP SDK's client would then send its own
    unsampled trace in each request's `_meta`, under which the server rightly
    records nothing.) The process's propagator injects nothing meanwhile."""
    propagator = propagate.get_global_textmap()
    propagate.set_global_textmap(CompositePropagator([]))
    yield
    propagate.set_global_textmap(propagator)


async def test_an_outside_agents_edit_is_one_trace_across_the_services(mcp_session_factory, otlp_receiver,  # noqa: F811
                                                                        untraced_client):
    outside = mcp_session_factory(env=otlp_receiver.env())
    async with outside.agent("claude") as claude:
        intent = await call(claude, "announce_intent", anchor="Документ начинается здесь.", summary="начало")
        await call(claude, "submit_edit", intent_id=intent["intent_id"], type="insert_after",
                   anchor="Документ начинается здесь.", text=" След.")

    def edit_trace():
        for spans in otlp_receiver.by_trace().values():
            names = [s.name for s in spans]
            if "tools/call submit_edit" in names and names.count("POST /internal/records") >= 2 \
                    and "POST /api/events" in names:
                return spans
        return None

    spans = wait_for(edit_trace, otlp_receiver)
    services = {s.service for s in spans}
    assert {"coedit-mcp", "coedit-text-node", "coedit-chat", "coedit-analytics"} <= services
    names = {s.name for s in spans}
    assert {"POST /api/edits", "replication.push", "POST /api/messages", "EVALSHA"} <= names
    [tool] = [s for s in spans if s.name == "tools/call submit_edit"]
    assert tool.service == "coedit-mcp" and 'string_value: "claude"' in tool.attributes["coedit.agent_id"]
    ids = {s.span_id for s in spans}
    assert len([s for s in spans if s.parent_id not in ids]) == 1  # one tree

    # and no token (the outside agent's, the session's) reaches a log line or a span
    logs = "".join(path.read_text(errors="replace") for path in outside.session.log_dir.glob("*.log"))
    assert "tools/call" in str([s.name for s in otlp_receiver.spans]) and '"trace_id"' in logs
    attributes = str([s.attributes for s in otlp_receiver.spans])
    for secret in (*TOKENS.values(), AUTH_TOKEN):
        assert secret not in logs and secret not in attributes
