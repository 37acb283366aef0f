"""One edit cycle, end to end, against in-process peers and a scripted model."""

import asyncio

import pytest

from coedit.agent.cycle import EditCycle, State, fitted_text, litter
from coedit.agent.runner import run_agent

from coedit.common.agent_protocol import OperationReply
from tests.agent.conftest import TEXT, reply

ANCHOR = "Nobody knew what it meant to be good."


async def test_a_cycle_applies_an_edit_and_tells_everyone(make_agent, peers, model):
    agent, _ = make_agent()
    outcome = await EditCycle(agent, 1).run()
    await agent.analytics.flush()
    assert outcome.applied, outcome.reason
    assert peers.text != TEXT and len(peers.edits) == 1
    kinds = [m["type"] for m in peers.messages]
    assert kinds == ["edit_intent", "intent_status", "edit_operation", "intent_status"]
    assert [m["status"] for m in peers.of_type("intent_status")] == ["confirmed", "applied"]
    operation = peers.of_type("edit_operation")[0]
    assert operation["intent_id"] == peers.of_type("edit_intent")[0]["intent_id"]
    # Nobody else claimed anything and the text did not move: confirm needs no model call.
    assert model.calls == ["intent", "generate", "review"]
    calls = peers.events_of("llm_call")
    assert [e["phase"] for e in calls] == model.calls
    assert sum(e["prompt_tokens"] + e["completion_tokens"] for e in calls) == peers.spent == 330
    assert [e["status"] for e in peers.events_of("intent")] == ["opened", "confirmed", "applied"]
    assert len(peers.events_of("edit_applied")) == 1


async def test_prompts_carry_an_excerpt_not_the_whole_document(make_agent, peers, model):
    peers.text = " ".join(f"Sentence number {i} is here." for i in range(300))
    agent, _ = make_agent(context_chars=300)
    await EditCycle(agent, 1).run()
    for messages in model.prompts:
        assert len(messages[1]["content"]) < 1200 < len(peers.text)


def claim(peers, agent_id: str, anchor: str, first: bool = False) -> None:
    """Another agent's open intent; `first`: older than every message already posted."""
    message = {"type": "edit_intent", "agent_id": agent_id, "intent_id": f"{agent_id}:i1",
               "summary": "theirs", "anchor": anchor, "id": f"0-{len(peers.messages)}"}
    peers.messages.insert(0 if first else len(peers.messages), message)


async def test_a_place_claimed_while_the_model_thought_moves_before_announcing(make_agent, peers, model):
    model.script["intent"] = [reply(sentence=3, summary="mine")]
    agent, _ = make_agent()
    cycle = EditCycle(agent, 1)
    await cycle._read()
    claim(peers, "b2", ANCHOR)  # claimed after the agent read the intents
    outcome = await cycle.run()
    assert outcome.applied, outcome.reason
    announced = peers.of_type("edit_intent")[-1]
    assert announced["agent_id"] == "a1" and announced["anchor"] != ANCHOR and announced["anchor"] in TEXT
    assert model.calls == ["intent", "generate", "review"] and not peers.of_type("edit_comment")


async def test_an_older_intent_on_the_same_place_wins_and_the_younger_moves(make_agent, peers, model):
    model.script["intent"] = [reply(sentence=3, summary="mine")]
    agent, _ = make_agent()
    cycle = EditCycle(agent, 1)
    for step in ("_read", "_intent", "_announce"):
        await getattr(cycle, step)()
    first_intent = cycle.intent_id
    claim(peers, "b2", ANCHOR, first=True)  # announced at the same moment, but older
    cycle.state = State.CONFIRM
    outcome = await cycle.run()
    assert outcome.applied and not outcome.contended
    comment = peers.of_type("edit_comment")[0]
    assert comment["ref"] == first_intent and "b2 claimed this place first" in comment["text"]
    intents = [m for m in peers.of_type("edit_intent") if m["agent_id"] == "a1"]
    assert len(intents) == 2 and intents[1]["anchor"] != ANCHOR
    assert model.calls == ["intent", "generate", "review"]  # the move cost no model call


async def test_an_older_intent_wins_and_with_no_free_place_left_the_younger_cancels(make_agent, peers, model):
    model.script["intent"] = [reply(sentence=3, summary="mine")]
    agent, _ = make_agent()
    cycle = EditCycle(agent, 1)
    for step in ("_read", "_intent", "_announce"):
        await getattr(cycle, step)()
    for n, sentence in enumerate(TEXT.split(". ")):
        claim(peers, f"b{n}", sentence.rstrip("."), first=True)
    cycle.state = State.CONFIRM
    outcome = await cycle.run()
    assert not outcome.applied and outcome.contended and "claimed this place first" in outcome.reason
    comment = peers.of_type("edit_comment")[0]
    assert comment["ref"] == cycle.intent_id
    assert peers.of_type("intent_status")[-1]["status"] == "cancelled"
    assert model.calls == ["intent"] and peers.text == TEXT


async def test_confirm_asks_the_model_when_the_place_moved_and_may_cancel(make_agent, peers, model):
    model.script["intent"] = [reply(sentence=3, summary="mine")]
    model.script["confirm"] = [reply(confirm=False, reason="already done")]
    agent, _ = make_agent()
    cycle = EditCycle(agent, 1)
    await cycle._read()
    await cycle._intent()
    await cycle._announce()
    peers.text = peers.text.replace("The stars were bright.", "The stars were very bright.")
    cycle.state = await cycle._confirm()
    assert model.calls == ["intent", "confirm"]
    assert cycle.outcome.reason == "already done"
    await cycle.run()
    assert peers.of_type("intent_status")[-1]["status"] == "cancelled"


async def test_an_anchor_gone_before_submit_cancels_with_a_comment(make_agent, peers, model):
    model.script["intent"] = [reply(sentence=3, summary="mine")]
    model.script["generate"] = [reply(type="insert_after", sentence=3, text=" So they asked.")]

    def someone_edits(p):
        p.text = p.text.replace(ANCHOR, "Nobody knew anything.")

    peers.before_edit = someone_edits
    agent, _ = make_agent(phases="intent,generate")
    outcome = await EditCycle(agent, 1).run()
    assert not outcome.applied and "anchor_not_found" in outcome.reason
    assert peers.of_type("edit_comment") and peers.of_type("intent_status")[-1]["status"] == "cancelled"
    await agent.analytics.flush()
    assert peers.events_of("edit_rejected")[0]["reason"].endswith("anchor_not_found")


async def test_check_cancels_when_the_anchor_changed_after_generate(make_agent, peers, model):
    model.script["intent"] = [reply(sentence=3, summary="mine")]
    agent, _ = make_agent()
    cycle = EditCycle(agent, 1)
    for step in ("_read", "_intent", "_announce", "_confirm", "_generate"):
        await getattr(cycle, step)()
    peers.text = peers.text.replace(ANCHOR, "Everybody knew.")
    assert await cycle._check() == "cancel" and "anchor is gone" in cycle.outcome.reason


async def test_a_rejected_draft_is_revised_once_then_the_intent_cancels(make_agent, peers, model):
    model.script["review"] = [reply(approve=False, reason="off topic"), reply(approve=False, reason="still off")]
    agent, _ = make_agent()
    outcome = await EditCycle(agent, 1).run()
    assert outcome.reason == "review: still off" and peers.text == TEXT
    assert peers.of_type("edit_comment")[0]["text"] == "review: still off"
    assert model.calls == ["intent", "generate", "review", "generate", "review"]
    assert '"reason": "off topic"' in model.prompts[3][1]["content"]  # the revision is told why


async def test_a_revised_draft_the_review_approves_is_applied(make_agent, peers, model):
    model.script["review"] = [reply(approve=False, reason="off topic"), reply(approve=True, reason="ok")]
    agent, _ = make_agent()
    assert (await EditCycle(agent, 1).run()).applied and peers.text != TEXT


async def test_broken_json_is_repaired_or_asked_again_then_cancelled(make_agent, peers, model):
    model.script["intent"] = ["Sure!\n```json\n{'sentence': '[3]', 'summary': 'x',}\n```"]
    model.script["generate"] = ["no idea", "still no idea"]
    agent, _ = make_agent()
    outcome = await EditCycle(agent, 1).run()
    assert model.calls == ["intent", "generate", "generate"]
    assert outcome.reason == "the model gave no usable operation"
    assert peers.of_type("edit_comment") and peers.spent == 330  # every call is paid for


async def test_a_sentence_copied_instead_of_its_number_snaps_to_the_sentence(make_agent, peers, model):
    model.script["intent"] = [reply(anchor="nobody knew what it meant to be good", summary="x")]
    agent, _ = make_agent()
    outcome = await EditCycle(agent, 1).run()
    assert outcome.applied and peers.of_type("edit_intent")[0]["anchor"] == ANCHOR


async def test_only_generate_runs_the_rest_by_rules(make_agent, peers, model):
    agent, _ = make_agent(phases="generate")
    outcome = await EditCycle(agent, 1).run()
    assert outcome.applied and model.calls == ["generate"]


async def test_budget_429_stops_the_agent_cleanly(make_agent, peers, model):
    peers.budget = 500  # a few calls
    agent, _ = make_agent()
    assert await run_agent(agent) == 0
    stopped = peers.events_of("agent_stopped")
    assert len(stopped) == 1 and stopped[0]["reason"].startswith("budget_exhausted")
    assert peers.events_of("budget_exhausted") and peers.events_of("agent_started")
    assert not (await agent.chat.open_intents())  # nothing left claimed
    billed = sum(e["prompt_tokens"] + e["completion_tokens"] for e in peers.events_of("llm_call"))
    assert billed == peers.spent


async def test_max_edits_ends_the_run(make_agent, peers, model):
    agent, _ = make_agent(max_edits=2)
    model.script["review"] = [reply(approve=True)] * 10
    assert await run_agent(agent) == 0
    assert len(peers.edits) == 2
    assert peers.events_of("agent_stopped")[0]["reason"] == "max_edits reached"


async def test_a_stop_while_the_edit_is_out_lets_it_be_told_first(make_agent, peers, model):
    """SIGTERM cancels the agent's task; one arriving while the node applies the edit
    must not leave an applied edit unannounced, uncounted, and its intent "cancelled"."""
    agent, _ = make_agent()
    running = asyncio.create_task(run_agent(agent))
    peers.before_edit = lambda _: running.cancel()
    assert await running == 0
    [edit_id] = peers.edits
    assert [m["edit_id"] for m in peers.of_type("edit_operation")] == [edit_id]
    assert [m["status"] for m in peers.of_type("intent_status")] == ["confirmed", "applied"]
    assert not peers.of_type("edit_comment")
    assert [e["edit_id"] for e in peers.events_of("edit_applied")] == [edit_id]
    assert peers.events_of("agent_stopped")[0]["reason"] == "terminated"


async def test_an_edit_with_an_unknown_outcome_is_cancelled_with_a_comment(make_agent, peers, model, sleeps):
    agent, router = make_agent(nodes=("a", "b"), unsure_edit_timeout=20)
    cycle = EditCycle(agent, 1)
    for step in ("_read", "_intent", "_announce", "_confirm", "_generate", "_check", "_review"):
        await getattr(cycle, step)()
    agent.text.current = 0
    router.lose_answers["a"] = 1000  # a takes the edit and never answers again
    cycle.state, sent = State.SUBMIT, len(router.hosts)
    await cycle.run()
    assert not cycle.outcome.applied and "outcome unknown" in cycle.outcome.reason
    assert "outcome unknown" in peers.of_type("edit_comment")[0]["text"]
    assert peers.of_type("intent_status")[-1]["status"] == "cancelled"
    assert set(router.hosts[sent:]) == {"a", "chat"} and sum(sleeps) >= 20  # never to b
    assert len(peers.edits) == 1  # a applied it (its answer was lost): once


async def test_when_others_hold_every_sentence_the_model_is_not_asked(make_agent, peers, model):
    for n, sentence in enumerate(TEXT.split(". ")):
        peers.messages.append({"type": "edit_intent", "agent_id": f"b{n}", "intent_id": f"b{n}:i1",
                               "summary": "x", "anchor": sentence.rstrip("."), "id": f"0-{n}"})
    agent, _ = make_agent()
    outcome = await EditCycle(agent, 1).run()
    assert outcome.busy and not outcome.applied and model.calls == []
    assert peers.of_type("edit_intent") == peers.messages  # nothing announced


async def test_text_already_in_the_document_is_asked_for_once_more_then_cancelled(make_agent, peers, model):
    old = " The stars were bright."
    op = reply(type="insert_after", sentence=3, text=old)
    model.script.update(intent=[reply(sentence=3, summary="mine")], generate=[op, op])
    agent, _ = make_agent()
    outcome = await EditCycle(agent, 1).run()
    assert not outcome.applied and outcome.reason == "the text is already in the document"
    assert model.calls == ["intent", "generate", "generate"]
    assert '"already_in_document": "The stars were bright."' in model.prompts[-1][1]["content"]
    # a fresh sentence the second time goes through
    peers.messages.clear()
    model.calls.clear()
    model.script.update(intent=[reply(sentence=3, summary="mine")],
                        generate=[op, reply(type="insert_after", sentence=3, text=" New.")])
    assert (await EditCycle(agent, 2).run()).applied
    assert model.calls == ["intent", "generate", "generate", "review"]


@pytest.mark.parametrize(("op_type", "text", "truncated", "expected"), [
    ("insert_after", "[3] They slept.", False, " They slept."),
    ("insert_before", "They slept.", False, "They slept. "),
    ("replace", "  They\nslept. ", False, "They slept."),
    ("delete", "whatever", False, ""),
    ("insert_after", "They slept. Then the sun ro", True, " They slept."),
    ("replace", "Then the sun ro", True, None),
    ("insert_after", "", False, None),
])
def test_the_models_text_is_fitted_to_the_operation(op_type, text, truncated, expected):
    reply = OperationReply(type=op_type, sentence=1, text=text)
    assert fitted_text(reply, truncated) == expected


async def test_every_prompt_shows_numbered_sentences_and_the_answer_becomes_the_exact_anchor(make_agent, peers, model):
    model.script["intent"] = [reply(sentence=3, summary="mine")]
    agent, _ = make_agent()
    assert (await EditCycle(agent, 1).run()).applied
    assert "[3] Nobody knew what it meant to be good.\n[4] The stars were bright." in model.prompts[0][1]["content"]
    assert peers.of_type("edit_intent")[0]["anchor"] == ANCHOR


LONG_RUN = " ".join(f"[w0-{n}]" for n in range(600)) + "."  # one sentence of 5,000 characters


async def test_a_sentence_too_long_to_announce_is_never_an_anchor(make_agent, peers, model):
    """A run of text longer than a chat message (a writer's marks, a pasted list) is
    not offered to the model, nor taken by the rules; the agent edits elsewhere."""
    peers.text = f"The robots slept. {LONG_RUN} The end."
    for phases in ("intent,generate,review", "generate"):
        agent, _ = make_agent(phases=phases)
        outcome = await EditCycle(agent, 1).run()
        assert outcome.applied, outcome.reason
        assert all(LONG_RUN not in m["anchor"] for m in peers.of_type("edit_intent"))


async def test_a_model_naming_a_sentence_too_long_to_announce_cancels_before_announcing(make_agent, peers, model):
    peers.text = f"The robots slept. {LONG_RUN} The end."
    model.script["intent"] = [reply(sentence=2, summary="x")]  # the long run, shown but not offered
    agent, _ = make_agent(context_chars=12_000)  # an excerpt that holds it
    outcome = await EditCycle(agent, 1).run()
    assert not outcome.applied and "too long to be an anchor" in outcome.reason
    assert peers.of_type("edit_intent") == []


@pytest.mark.parametrize(("text", "document", "expected"), [
    ("<string>The robot smiled.</string>", "Once.", "<string>"),
    ("The robot smiled. </claimion>", "Once.", "</claimion>"),
    ("The robot smiles for the first time. }", "Once.", "}"),
    ("The robot smiles. [5]", "Once.", "[5]"),
    ("Empty brackets [] here.", "Once.", "[]"),
    ("The robot smiled at 3 < 5 and 7 > 2.", "Once.", None),
    ("See [1] for more.", "Sources are cited as [1] and [2].", None),  # the document's own style
    ("Роботы улыбнулись.", "Однажды.", None),
])
def test_litter_small_models_leave_in_prose_is_found_unless_the_document_has_it(text, document, expected):
    assert litter(text, document) == expected


async def test_a_draft_with_markup_is_asked_for_once_more_then_cancelled(make_agent, peers, model):
    littered = reply(type="insert_after", sentence=3, text=" <string>They slept.</string>")
    model.script.update(intent=[reply(sentence=3, summary="mine")], generate=[littered, littered])
    agent, _ = make_agent()
    outcome = await EditCycle(agent, 1).run()
    assert not outcome.applied and outcome.reason == "the model's text holds <string>, which is not prose"
    assert peers.text == TEXT and model.calls == ["intent", "generate", "generate"]
    assert "not prose" in model.prompts[-1][1]["content"]  # the second draft is told why
    # a clean second draft goes through
    model.calls.clear()
    model.script.update(intent=[reply(sentence=3, summary="mine")],
                        generate=[littered, reply(type="insert_after", sentence=3, text=" They slept.")])
    assert (await EditCycle(agent, 2).run()).applied and "<string>" not in peers.text
