"""Where an agent looks for work and what part of the document each phase is shown
(sentence-aligned excerpts, coedit.common.passages), so a phase costs tokens for a
window of text, not for the whole, growing document."""

import random
import re
import zlib

from coedit.chat.models import MAX_TEXT_CHARS
from coedit.common.agent_protocol import Span, sentences
from coedit.common.passages import Excerpt, excerpt, overlaps


def chunks(text: str, size: int) -> list[Span]:
    """Consecutive sentences grouped into spans of at most `size` characters
    (a longer sentence is a chunk of its own)."""
    spans: list[Span] = []
    for start, end in sentences(text):
        if spans and end - spans[-1][0] <= size:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans or [(0, len(text))]


MAX_ANCHOR_CHARS = MAX_TEXT_CHARS  # an intent's anchor is announced in the chat, whose texts stop there


def unanchorable(text: str) -> list[Span]:
    """Sentences too long to be an intent's anchor (a run of text with no full stop)."""
    return [s for s in sentences(text) if s[1] - s[0] > MAX_ANCHOR_CHARS]


def free_sentences(text: str, claimed: list[Span]) -> list[Span]:
    """The sentences no claim overlaps: the places still open to a new intent."""
    return [s for s in sentences(text) if not any(overlaps(s, c) for c in claimed)]


def slot_of(agent_id: str) -> int:
    """The agent's place in the rotation: its id's number (agent-3: 3), else a stable hash."""
    match = re.search(r"(\d+)$", agent_id)
    return int(match.group(1)) if match else zlib.crc32(agent_id.encode())


def share(text: str, agent_id: str, agents: int) -> list[Span]:
    """This agent's share of the sentences: sentence i belongs to slot i modulo
    `agents`, so agents reading the same text prefer different places."""
    slot, agents = slot_of(agent_id), max(1, agents)
    return [s for i, s in enumerate(sentences(text)) if (i - slot) % agents == 0]


def ranked_free(text: str, claimed: list[Span], agent_id: str, agents: int) -> list[Span]:
    """The free sentences in this agent's order of preference: its share first, then
    the rest, each part in a stable order of its own (a hash of id and sentence)."""
    own = set(share(text, agent_id, agents))

    def rank(span: Span) -> tuple[bool, int]:
        return span not in own, zlib.crc32(f"{agent_id}|{text[span[0]:span[1]]}".encode())

    return sorted(free_sentences(text, claimed), key=rank)


def region_for_intent(text: str, size: int, key: str, claimed: list[Span],
                      preferred: list[Span] = ()) -> Excerpt | None:
    """A chunk to look for work in, picked at random (seeded by `key`) in proportion
    to its `preferred` free sentences (this agent's share; any free sentence when none
    is), so that agents spread over the whole document rather than crowd the few
    places nobody has claimed yet. None when every sentence is claimed."""
    free = free_sentences(text, claimed)
    candidates = chunks(text, size)
    for pool in (list(preferred), free):
        weights = [sum(overlaps(chunk, s) for s in pool) for chunk in candidates]
        if any(weights):
            start, end = random.Random(key).choices(candidates, weights)[0]
            return excerpt(text, start, end)
    return None


def apply(text: str, op_type: str, span: Span, insert: str) -> str:
    """`text` with an operation applied at `span`, as the text node applies it."""
    start, end = span
    match op_type:
        case "insert_after":
            return text[:end] + insert + text[end:]
        case "insert_before":
            return text[:start] + insert + text[start:]
        case "replace":
            return text[:start] + insert + text[end:]
        case "delete":
            return text[:start] + text[end:]
    raise ValueError(op_type)
