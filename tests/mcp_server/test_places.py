"""Where intents stand (the built-in agents' rules) and the hints of anchor errors."""

from datetime import UTC, datetime

from coedit.chat.models import OpenIntent
from coedit.mcp import places

TEXT = "The robots woke up. They read stories at night. The stars were bright. They read stories at night."


def intent(agent_id: str, anchor: str, n: int) -> OpenIntent:
    return OpenIntent(agent_id=agent_id, intent_id=f"{agent_id}:i{n}", anchor=anchor, summary="s",
                      id=f"{n}-0", expires_at=datetime(2100, 1, 1, tzinfo=UTC))


def test_a_place_overlapping_another_agents_intent_is_theirs():
    intents = [intent("a1", "The robots woke up.", 1), intent("me", "The stars", 2)]
    robots = (0, len("The robots"))
    assert [i.agent_id for i in places.holders(TEXT, intents, "me", robots)] == ["a1"]
    assert places.holders(TEXT, intents, "a1", robots) == []  # its own intent holds nothing against it
    stars = TEXT.index("The stars")
    assert places.holders(TEXT, intents, "a1", (stars, stars + 5))[0].agent_id == "me"
    assert places.holders(TEXT, intents, "me", (stars, stars + 5)) == []


def test_of_two_overlapping_intents_the_older_keeps_the_place():
    older, newer = intent("a1", "The robots woke", 1), intent("me", "robots woke up.", 2)
    assert places.older_holders(TEXT, [older, newer], newer) == [older]
    assert places.older_holders(TEXT, [older, newer], older) == []


def test_hints_quote_what_the_text_says_now():
    assert "«The stars were bright.»" in places.not_found_hint(TEXT, "The stars were shining")
    assert "«They read stories at night.»" in places.not_found_hint(TEXT, "They read storeis at night.")
    assert places.likeliest_sentence(TEXT, "xyz") is None
    around = places.not_found_hint(TEXT, "gone", near=(0, 5))
    assert around.startswith("Around your intent the text now reads: «The robots woke up.")
    hint = places.ambiguous_hint(TEXT, "They read")
    assert hint.startswith("It occurs 2 times: occurrence 1: …The robots woke up. [They read] stories")
    assert hint.endswith("occurrence 2: …woke up. They read stories at night. The stars were bright. "
                         "[They read] stories at night.…")
