"""Each phase's reply parsed from what models really send when nothing constrains them."""

import pytest

from coedit.agent.replies import ReplyError, parse_reply
from coedit.common.agent_protocol import Phase

LINES = ["A robot woke.", "It was night.", "The city slept."]


@pytest.mark.parametrize(("phase", "content", "expected"), [
    (Phase.INTENT, '{"sentence": 2, "summary": "s"}', {"sentence": 2, "summary": "s"}),
    (Phase.INTENT, 'Sure!\n```json\n{"number": "[3]", "intent": "s"}\n```', {"sentence": 3, "summary": "s"}),
    (Phase.INTENT, '{"anchor": "it was night", "summary": "s"}', {"sentence": 2, "summary": "s"}),
    (Phase.INTENT, '{"sentence": 1, "summary": "s"} I hope this helps! {"sentence": 2}',
     {"sentence": 1, "summary": "s"}),
    (Phase.INTENT, '{"sentence": 1, "summary": "add a deta', {"sentence": 1, "summary": "add a deta"}),
    (Phase.CONFIRM, "{'confirm': 'yes', 'reason': 'free',}", {"confirm": True, "reason": "free"}),
    (Phase.CONFIRM, '{"decision": "нет"}', {"confirm": False, "reason": ""}),
    (Phase.GENERATE, '{"operation": {"op": "insert_after", "sentence": 1, "new_text": "B."}}',
     {"type": "insert_after", "sentence": 1, "text": "B."}),
    (Phase.GENERATE, '[{"type": "delete", "sentence": "2"}]', {"type": "delete", "sentence": 2, "text": ""}),
    (Phase.REVIEW, '{"approved": "Approve.", "reasoning": "ok"}', {"approve": True, "reason": "ok"}),
    (Phase.REVIEW, '{"approve": false, "reason": "off topic"', {"approve": False, "reason": "off topic"}),
])
def test_replies_are_repaired_and_read_with_synonyms(phase, content, expected):
    assert parse_reply(phase, content, LINES).model_dump() == expected


@pytest.mark.parametrize(("phase", "content"), [
    (Phase.INTENT, "I think this is a good idea."),
    (Phase.INTENT, '{"type": "JSON", "summary": "x"}'),  # what SmolLM2 answered to "JSON only:"
    (Phase.INTENT, '{"sentence": 4, "summary": "x"}'),  # the excerpt has three
    (Phase.INTENT, '{"anchor": "Not a sentence of it at all.", "summary": "x"}'),
    (Phase.GENERATE, '{"type": "rewrite", "sentence": 1, "text": "B."}'),
    (Phase.REVIEW, '{"approve": "maybe"}'),
    (Phase.CONFIRM, None),
])
def test_replies_that_cannot_be_used_raise(phase, content):
    with pytest.raises(ReplyError):
        parse_reply(phase, content, LINES)
