"""Where intents stand in the text, by the built-in agents' rules (agent/cycle.py):
an open intent holds the text its anchor matches (the occurrence `locate` finds,
as the agents see it); a place overlapping another agent's hold is taken, and of
two overlapping intents the older one (first in the chat's list) keeps it. Also
the hints an anchor error carries, so that a model can fix its next call."""

from difflib import SequenceMatcher

from coedit.chat.models import OpenIntent
from coedit.common.agent_protocol import Span, sentences
from coedit.common.passages import closest_sentence, find_all, locate, overlaps, window_around

QUOTE_CHARS = 60  # context shown either side of an occurrence in a hint


def held_by_others(text: str, intents: list[OpenIntent], agent_id: str) -> list[tuple[Span, OpenIntent]]:
    """The places other agents' open intents hold in `text`, oldest intent first."""
    held = []
    for intent in intents:
        if intent.agent_id != agent_id:
            found = locate(text, intent.anchor)
            if found is not None:
                held.append((found.span, intent))
    return held


def holders(text: str, intents: list[OpenIntent], agent_id: str, span: Span) -> list[OpenIntent]:
    """Other agents' intents whose place overlaps `span`, oldest first."""
    return [intent for held, intent in held_by_others(text, intents, agent_id) if overlaps(held, span)]


def older_holders(text: str, intents: list[OpenIntent], mine: OpenIntent) -> list[OpenIntent]:
    """Other agents' intents, older than `mine`, overlapping its place: the place is theirs."""
    found = locate(text, mine.anchor)
    if found is None:
        return []
    order = [intent.intent_id for intent in intents]
    position = order.index(mine.intent_id) if mine.intent_id in order else len(order)
    return [o for o in holders(text, intents, mine.agent_id, found.span)
            if order.index(o.intent_id) < position]


def describe_holders(found: list[OpenIntent]) -> str:
    return "; ".join(
        f"{o.agent_id} holds «{clip(o.anchor)}» ({clip(o.summary)}), lease until "
        f"{o.expires_at.isoformat(timespec='seconds')}" for o in found
    )


def clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(text: str, start: int, end: int) -> str:
    """`text[start:end]` with some context either side, the match in [brackets]."""
    before = text[max(0, start - QUOTE_CHARS):start]
    after = text[end:end + QUOTE_CHARS]
    return f"…{before}[{text[start:end]}]{after}…"


def likeliest_sentence(text: str, anchor: str) -> str | None:
    """The sentence a model most likely meant: the agents' closest sentence when the
    anchor was one, else the one sharing the longest run of characters with it
    (at least a third of the anchor), for an anchor that was a phrase."""
    guess = closest_sentence(text, anchor)
    if guess is not None:
        return guess
    best, best_run = None, max(4, len(anchor) // 3) - 1
    for start, end in sentences(text):
        sentence = text[start:end]
        run = SequenceMatcher(None, anchor, sentence, autojunk=False).find_longest_match().size
        if run > best_run:
            best, best_run = sentence, run
    return best


def not_found_hint(text: str, anchor: str, near: Span | None = None) -> str:
    """What to copy instead: the likeliest sentence, and the text around `near` (the
    caller's intent) as it reads now."""
    parts = []
    guess = likeliest_sentence(text, anchor)
    if guess is not None:
        parts.append(f"The sentence most like it is «{guess}».")
    if near is not None:
        around = window_around(text, *near, 150)
        parts.append(f"Around your intent the text now reads: «{around.text}».")
    return " ".join(parts) or "Read the document again (read_document)."


def ambiguous_hint(text: str, anchor: str, limit: int = 5) -> str:
    starts = find_all(text, anchor)
    shown = [f"occurrence {i}: {quote(text, s, s + len(anchor))}" for i, s in enumerate(starts[:limit], 1)]
    more = f" (and {len(starts) - limit} more)" if len(starts) > limit else ""
    return f"It occurs {len(starts)} times{more}: " + " | ".join(shown)
