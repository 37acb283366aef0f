"""Each phase's reply parsed from what models really send."""

import pytest

from coedit.agent.protocol import Phase
from coedit.agent.replies import ReplyError, parse_reply


@pytest.mark.parametrize(("phase", "content", "expected"), [
    (Phase.INTENT, '{"anchor": "A.", "summary": "s"}', {"anchor": "A.", "summary": "s"}),
    (Phase.INTENT, 'Sure!\n```json\n{"place": "A.", "intent": "s"}\n```', {"anchor": "A.", "summary": "s"}),
    (Phase.CONFIRM, "{'confirm': 'yes', 'reason': 'free',}", {"confirm": True, "reason": "free"}),
    (Phase.CONFIRM, '{"decision": "нет"}', {"confirm": False, "reason": ""}),
    (Phase.GENERATE, '{"operation": {"op": "insert_after", "anchor": "A.", "new_text": " B."}}',
     {"type": "insert_after", "anchor": "A.", "text": " B."}),
    (Phase.GENERATE, '[{"type": "delete", "anchor": "A."}]', {"type": "delete", "anchor": "A.", "text": ""}),
    (Phase.REVIEW, '{"approved": "Approve.", "reasoning": "ok"}', {"approve": True, "reason": "ok"}),
    (Phase.REVIEW, '{"approve": false, "reason": "off topic"', {"approve": False, "reason": "off topic"}),
])
def test_replies_are_repaired_and_read_with_synonyms(phase, content, expected):
    assert parse_reply(phase, content).model_dump() == expected


@pytest.mark.parametrize(("phase", "content"), [
    (Phase.INTENT, "I think this is a good idea."),
    (Phase.INTENT, '{"anchor": ""}'),
    (Phase.GENERATE, '{"type": "rewrite", "anchor": "A.", "text": "B."}'),
    (Phase.REVIEW, '{"approve": "maybe"}'),
    (Phase.CONFIRM, None),
])
def test_replies_that_cannot_be_used_raise(phase, content):
    with pytest.raises(ReplyError):
        parse_reply(phase, content)
