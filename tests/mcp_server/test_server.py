"""`coedit mcp` as a process on a real session (three text nodes, chat, analytics),
driven with the official MCP SDK's client as an outside agent would."""

import time

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.agent.session import INITIAL_TEXT, converged
from tests.mcp_server.conftest import TOKENS, agent_events, call, connect, refused

TOOLS = {"read_document", "list_intents", "announce_intent", "submit_edit", "cancel_intent",
         "post_comment", "get_version", "diff", "report_usage"}


async def test_an_outside_agent_reads_announces_edits_and_comments(mcp_session_factory):
    outside = mcp_session_factory()
    session = outside.session
    async with outside.agent("claude") as claude:
        tools = {tool.name: tool for tool in (await claude.list_tools()).tools}
        assert set(tools) == TOOLS
        for tool in tools.values():  # typed both ways, described for a model
            assert tool.output_schema["type"] == "object" and len(tool.description) > 40
        assert set(tools["submit_edit"].input_schema["required"]) == {"intent_id", "type"}

        document = await call(claude, "read_document")
        assert document == {"version": 0, "text": INITIAL_TEXT, "start": 0, "end": len(INITIAL_TEXT),
                            "length": len(INITIAL_TEXT), "whole": True}
        intent = await call(claude, "announce_intent", anchor="Документ начинается здесь.",
                            summary="добавить фразу о роботах")
        assert (await call(claude, "list_intents"))["intents"][0] | {"expires_at": None} == {
            "intent_id": intent["intent_id"], "agent_id": "claude", "anchor": "Документ начинается здесь.",
            "summary": "добавить фразу о роботах", "expires_at": None, "yours": True}
        edit = await call(claude, "submit_edit", intent_id=intent["intent_id"], type="insert_after",
                          anchor="Документ начинается здесь.", text=" Роботы проснулись.")
        assert edit["version"] == 1
        await call(claude, "post_comment", text="добавил фразу", ref=edit["edit_id"])
        assert (await call(claude, "list_intents"))["intents"] == []  # applied: the place is free

        expected = INITIAL_TEXT.replace("здесь.", "здесь. Роботы проснулись.")
        assert converged(session, ["a", "b", "c"]) == expected
        for node in "abc":
            [record] = session.edits(node)
            assert (record["edit_id"], record["agent_id"], record["intent_id"]) == (
                edit["edit_id"], "claude", intent["intent_id"])

        messages = [m for m in session.messages() if m["agent_id"] == "claude"]
        assert [(m["type"], m.get("status")) for m in messages] == [
            ("edit_intent", None), ("intent_status", "confirmed"), ("edit_operation", None),
            ("intent_status", "applied"), ("edit_comment", None)]
        assert messages[2]["edit_id"] == edit["edit_id"] and messages[2]["version"] == 1

        assert (await call(claude, "get_version", version=0))["text"] == INITIAL_TEXT
        changes = await call(claude, "diff", from_version=0, to_version=1)
        assert [s["text"] for s in changes["segments"] if s["kind"] == "insert"] == ["Роботы проснулись. "]
        assert "no_such_version" in await refused(claude, "get_version", version=9)

        usage = await call(claude, "report_usage", prompt_tokens=1200, completion_tokens=300, model="opus")
        assert usage["spent"] == 1500 and not usage["exhausted"]

        resource = await claude.read_resource("coedit://document")
        assert resource.contents[0].text == expected
        chat = await claude.read_resource("coedit://chat")
        assert '"edit_comment"' in chat.contents[0].text
        prompt = await claude.get_prompt("coedit_protocol")
        assert "announce_intent" in prompt.messages[0].content.text

    figures = await wait_for(lambda: agent_events(session, "claude"), lambda f: f.get("tokens") == 1500)
    assert figures["edits_applied"] == 1 and figures["intents_opened"] == 1 and figures["llm_calls"] == 1

    metrics = httpx.get(f"{outside.mcp.url}/metrics", timeout=10).text
    assert 'coedit_mcp_tool_calls_total{agent="claude",outcome="ok",tool="submit_edit"} 1.0' in metrics
    assert httpx.get(f"{outside.mcp.url}/readyz", timeout=10).json() == {
        "ready": True, "text_nodes": "ok", "chat": "ok", "analytics": "ok"}


async def wait_for(read, done, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while not done(value := read()):
        assert time.monotonic() < deadline, value
        time.sleep(0.2)
    return value
