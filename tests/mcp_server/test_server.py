"""`coedit mcp` as a process on a real session (three text nodes, chat, analytics),
driven with the official MCP SDK's client as an outside agent would."""

import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from coedit.common.agent_protocol import sentences
from coedit.chat.client import ChatClient
from coedit.chat.models import EditIntent
from coedit.mcp.client import connect
from tests.agent.session import INITIAL_TEXT, converged, wait_all
from tests.conftest import AUTH_TOKEN
from tests.mcp_server.conftest import TOKENS, agent_events, call, refused
from tests.text_node.conftest import links  # noqa: F401

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
        comment = await call(claude, "post_comment", text="добавил фразу", ref=edit["edit_id"], comment_id="c1")
        assert await call(claude, "post_comment", text="добавил фразу", comment_id="c1") == comment  # once
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

        for _ in range(2):  # the same report twice counts once
            usage = await call(claude, "report_usage", prompt_tokens=1200, completion_tokens=300, model="opus",
                               report_id="call-1")
            assert usage["spent"] == 1500 and not usage["exhausted"]

        async with ChatClient(session.chat.url, token=AUTH_TOKEN) as chat:  # people pause the session
            await chat.pause(by="ada")
            text = await refused(claude, "announce_intent", anchor="Роботы проснулись.", summary="s")
            assert text.startswith("Error executing tool announce_intent: paused: people paused the session (ada)")
            assert (await call(claude, "read_document"))["version"] == 1  # reads still work
            await chat.resume(by="ada")
        again = await call(claude, "announce_intent", anchor="Роботы проснулись.", summary="s")
        await call(claude, "cancel_intent", intent_id=again["intent_id"], reason="только проверка")

        resource = await claude.read_resource("coedit://document")
        assert resource.contents[0].text == expected
        chat = await claude.read_resource("coedit://chat")
        assert '"edit_comment"' in chat.contents[0].text
        prompt = await claude.get_prompt("coedit_protocol")
        assert "announce_intent" in prompt.messages[0].content.text

    # the 20-line agent of docs/mcp.md, as cursor, as a process
    run = subprocess.run([sys.executable, "-c", docs_agent()], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "COEDIT_MCP_URL": outside.url, "COEDIT_MCP_TOKEN": TOKENS["cursor"]})
    assert run.returncode == 0, run.stderr
    assert '"version": 2' in run.stdout
    assert converged(session, ["a", "b", "c"]) == expected.replace("космос.", "космос. And the keeper smiled.")
    assert session.edits("c")[-1]["agent_id"] == "cursor"

    wanted = {"tokens": 1500, "edits_applied": 1, "llm_calls": 1, "intents_opened": 2, "intents_cancelled": 1}
    figures = await wait_for(lambda: agent_events(session, "claude"),  # each event is sent in the background
                             lambda f: all(f.get(key, 0) >= value for key, value in wanted.items()))
    assert {key: figures[key] for key in wanted} == wanted

    metrics = httpx.get(f"{outside.mcp.url}/metrics", timeout=10).text
    assert 'coedit_mcp_tool_calls_total{agent="claude",outcome="ok",tool="submit_edit"} 1.0' in metrics
    assert httpx.get(f"{outside.mcp.url}/readyz", timeout=10).json() == {
        "ready": True, "text_nodes": "ok", "chat": "ok", "analytics": "ok"}


async def test_calling_again_after_the_edit_was_applied_tells_it_once(mcp_session_factory):
    """An earlier submit_edit applied the edit and was cut short before it told the
    chat and analytics (its answer lost, the chat away): the same call again finishes
    the telling and applies nothing twice, even though the intent's place is gone."""
    outside = mcp_session_factory()
    session = outside.session
    anchor, new = "Документ начинается здесь.", "Всё началось."
    async with outside.agent("claude") as claude:
        intent = await call(claude, "announce_intent", anchor=anchor, summary="переписать начало")
        edit_id = intent["intent_id"].replace(":intent-", ":edit-")
        first = session.text.edit("b", edit_id, {"type": "replace", "anchor": anchor, "text": new},
                                  agent_id="claude", intent_id=intent["intent_id"])  # what the earlier call did
        assert first.status_code == 201
        for _ in range(2):  # the intent still open (its place gone), then closed: the first answer both times
            assert await call(claude, "submit_edit", intent_id=intent["intent_id"], type="replace",
                              anchor=anchor, text=new) == first.json()
        await call(claude, "report_usage", prompt_tokens=10, completion_tokens=0, model="m")  # sent after them
    assert converged(session, ["a", "b", "c"]) == INITIAL_TEXT.replace(anchor, new)
    assert [(m["type"], m.get("status")) for m in session.messages() if m["agent_id"] == "claude"] == [
        ("edit_intent", None), ("intent_status", "confirmed"), ("edit_operation", None),
        ("intent_status", "applied")]
    figures = await wait_for(lambda: agent_events(session, "claude"), lambda f: f.get("tokens") == 10)
    assert figures["edits_applied"] == 1 and figures["intents_cancelled"] == 0


async def test_after_an_unknown_outcome_the_edit_waits_for_the_node_that_got_it(mcp_session_factory, links):  # noqa: F811
    """Node a applied an edit and its answer was lost, while a was cut off from its
    peers: until a answers again, a call again is refused rather than sent to b or c,
    which would apply the edit a second time."""
    outside = mcp_session_factory(1_000_000, "--unsure-edit-timeout", "0", text_options={"peer_url": links.url},
                                  text_urls=lambda s: [links.url("mcp", n, s.text[n].port) for n in "abc"])
    session = outside.session
    anchor, new = "Документ начинается здесь.", "Всё началось."
    for node, peer in [("a", "b"), ("a", "c"), ("b", "a"), ("c", "a")]:
        links.cut(node, peer)
    links.lose_replies("mcp", "a", b"POST /api/edits ")
    for node in "bc":  # the first edit can only go to a
        links.refuse("mcp", node)
    async with outside.agent("claude") as claude:
        intent = await call(claude, "announce_intent", anchor=anchor, summary="переписать начало")
        edit = {"intent_id": intent["intent_id"], "type": "replace", "anchor": anchor, "text": new}
        assert "outcome_unknown" in await refused(claude, "submit_edit", **edit)
        assert new in session.text.document("a")["text"]  # applied there; the answer never came
        links.refuse("mcp", "a")  # and now a does not answer at all, while b and c do
        for node in "bc":
            links.refuse("mcp", node, False)
        answer = await refused(claude, "submit_edit", **edit)
        assert "outcome_unknown" in answer and "not sent elsewhere" in answer, answer
        assert [session.text.document(node)["text"] for node in "bc"] == [INITIAL_TEXT] * 2
        links.refuse("mcp", "a", False)
        links.lose_replies("mcp", "a", None)
        links.heal()
        applied = await call(claude, "submit_edit", **edit)  # a is back: its first answer
    assert applied["node_id"] == "a"
    assert converged(session, ["a", "b", "c"]) == INITIAL_TEXT.replace(anchor, new)
    assert [m["edit_id"] for m in session.messages() if m["type"] == "edit_operation"] == [applied["edit_id"]]


def docs_agent() -> str:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "mcp.md").read_text()
    [agent] = re.findall(r"```python\n(.*?)```", doc, re.DOTALL)
    assert len(agent.strip().splitlines()) <= 30
    return agent


async def wait_for(read, done, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while not done(value := read()):
        assert time.monotonic() < deadline, value
        time.sleep(0.2)
    return value


async def test_what_the_session_refuses(mcp_session_factory):
    outside = mcp_session_factory(100_000, "--writes-per-minute", "14", "--edit-radius", "0")
    session = outside.session
    third = session.text.edit("a", "tester:e1", {"type": "append", "text": " Третья фраза."})
    assert third.status_code == 201
    document = INITIAL_TEXT + " Третья фраза."
    response = httpx.post(outside.url, json={}, headers={"Authorization": "Bearer wrong-token-0123456789"})
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
    assert httpx.post(outside.url, json={}).status_code == 401
    with pytest.raises(ExceptionGroup) as failed:
        async with connect(outside.url, "wrong-token-0123456789"):
            pass
    assert failed.group_contains(MCPError)

    async with ChatClient(session.chat.url, token=AUTH_TOKEN) as chat:  # a built-in agent's claim
        await chat.post(EditIntent(agent_id="agent-7", intent_id="agent-7:i1", anchor="Документ начинается здесь.",
                                   summary="переписать начало"))
    async with outside.agent("claude") as claude, outside.agent("cursor") as cursor:
        text = await refused(claude, "submit_edit", intent_id="claude:nothing", type="append", text=" Конец.")
        assert text.startswith("Error executing tool submit_edit: no_open_intent")  # 1 write of 12
        text = await refused(claude, "announce_intent", anchor="Документ начинается", summary="s")  # 2
        assert "place_taken" in text and "agent-7 holds «Документ начинается здесь.»" in text
        assert "anchor_ambiguous" in await refused(claude, "announce_intent", anchor="о", summary="s")  # 3
        text = await refused(claude, "announce_intent", anchor="Роботы-мамы", summary="s")  # 4
        assert "anchor_not_found" in text and "«Роботы-няни читали детям сказки про космос.»" in text
        intent = await call(claude, "announce_intent", anchor="сказки про космос", summary="уточнить")  # 5
        again = await call(claude, "announce_intent", anchor="сказки про космос", summary="уточнить")  # 6
        assert again["intent_id"] == intent["intent_id"]  # the same announcement: the same lease
        assert "intent_open" in await refused(claude, "announce_intent", anchor="Роботы-няни", summary="s")  # 7
        assert "not_your_intent" in await refused(
            cursor, "submit_edit", intent_id=intent["intent_id"], type="delete", anchor="сказки")
        text = await refused(claude, "submit_edit", intent_id=intent["intent_id"], type="replace",  # 8
                             anchor="здесь", text="тут")
        assert "place_taken" in text and "agent-7" in text
        text = await refused(claude, "submit_edit", intent_id=intent["intent_id"], type="replace",  # 9
                             anchor="сказки про луну", text="сказки про звёзды")
        assert "anchor_not_found" in text and "Around your intent the text now reads" in text
        assert "intent is still open" in text
        text = await refused(claude, "submit_edit", intent_id=intent["intent_id"], type="replace",  # 10
                             anchor="Третья", text="Последняя")
        assert "outside_intent" in text and "«сказки про космос»" in text
        text = await refused(claude, "submit_edit", intent_id=intent["intent_id"], type="delete",  # 11
                             anchor="сказки", occurrence=2)
        assert "occurs 1 times, not 2" in text
        assert [i["intent_id"] for i in (await call(claude, "list_intents"))["intents"]] == [
            "agent-7:i1", intent["intent_id"]]
        assert session.text.texts()["a"] == (document, 1)  # nothing refused was applied

        for _ in range(3):  # 12, 13, 14
            await call(claude, "post_comment", text="думаю", ref=intent["intent_id"])
        assert "rate_limited" in await refused(claude, "post_comment", text="ещё")
        assert (await call(claude, "list_intents"))["intents"]  # reads are not limited

        usage = await call(cursor, "report_usage", prompt_tokens=99_000, completion_tokens=1_000, model="m")
        # more than the budget can cover: the ledger takes none of it (it never passes the
        # limit), analytics counts it, and the session is over
        assert usage == {"spent": 0, "limit": 100_000, "exhausted": True}
        assert "budget_exhausted" in await refused(cursor, "announce_intent", anchor="Роботы-няни", summary="s")
        assert "budget_exhausted" in await refused(cursor, "post_comment", text="всё?")
        # reports after the end still answer (and count in analytics), the ledger stays within the limit
        after = await call(cursor, "report_usage", prompt_tokens=10, completion_tokens=0, model="m")
        assert after["exhausted"] and after["spent"] <= 100_000


async def test_built_in_agents_and_an_outside_agent_write_at_once_and_converge(mcp_session_factory):
    outside = mcp_session_factory()
    session = outside.session
    agents = {name: session.agent(name, "--max-edits", "4", "--start-spread", "0.5")
              for name in ("agent-1", "agent-2")}
    async with outside.agent("claude") as claude:
        applied = [await outside_edit(claude, n) for n in range(4)]
    wait_all(agents, session)
    converged(session, ["a", "b", "c"])  # (the built-in agents may rewrite the outsider's sentences)
    for node in "abc":
        assert {e["edit_id"] for e in session.edits(node)} >= {a["edit_id"] for a in applied}
    assert Counter(e["agent_id"] for e in session.edits("a")) == {"agent-1": 4, "agent-2": 4, "claude": 4}
    intents = {m["intent_id"]: m["agent_id"] for m in session.messages() if m["type"] == "edit_intent"}
    for edit in session.edits("a"):  # every edit, anyone's, went through an intent of its agent
        assert intents[edit["intent_id"]] == edit["agent_id"]


async def outside_edit(client, n: int) -> dict:
    """What a model would do: read, find a sentence nobody holds, claim it, add a
    sentence after it; on a refusal read again and retry."""
    for _ in range(30):
        document = await call(client, "read_document")
        held = [i["anchor"] for i in (await call(client, "list_intents"))["intents"]]
        text = document["text"]
        free = [text[s:e] for s, e in sentences(text)
                if not any(anchor in text[s:e] or text[s:e] in anchor for anchor in held)]
        if not free:
            time.sleep(0.3)
            continue
        anchor = free[-1]
        answer = await client.call_tool("announce_intent", {"anchor": anchor, "summary": f"фраза {n}"})
        if answer.is_error:
            continue
        intent = answer.structured_content
        answer = await client.call_tool("submit_edit", {
            "intent_id": intent["intent_id"], "type": "insert_after", "anchor": anchor,
            "text": f" Внешняя фраза {n}."})
        if not answer.is_error:
            return answer.structured_content
        await client.call_tool("cancel_intent", {"intent_id": intent["intent_id"], "reason": "retry"})
    pytest.fail("the outside agent never got an edit in")
