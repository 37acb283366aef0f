"""What part of the document each phase is shown: sentence-aligned excerpts, so a
phase costs tokens for a window of text, not for the whole, growing document."""

import difflib
import random
import re
import zlib
from dataclasses import dataclass
from functools import cached_property

from coedit.common.agent_protocol import Span, sentences


@dataclass(frozen=True)
class Excerpt:
    """`text[start:end]` of a document `total` characters long."""

    text: str
    start: int
    end: int
    total: int

    @property
    def is_whole(self) -> bool:
        return self.start == 0 and self.end == self.total

    @cached_property
    def spans(self) -> list[Span]:
        """Where the excerpt's sentences are in the document: sentence n is spans[n - 1]."""
        return [(self.start + s, self.start + e) for s, e in sentences(self.text)]

    @cached_property
    def lines(self) -> list[str]:
        """The sentences as the model is shown them, numbered from 1."""
        return [self.text[s - self.start:e - self.start] for s, e in self.spans]

    def number_of(self, span: Span) -> int | None:
        """The number of the first sentence overlapping `span`, if any."""
        return next((n for n, s in enumerate(self.spans, 1) if overlaps(s, span)), None)


def excerpt(text: str, start: int, end: int) -> Excerpt:
    return Excerpt(text[start:end], start, end, len(text))


def window_around(text: str, start: int, end: int, radius: int) -> Excerpt:
    """The sentences touching `[start - radius, end + radius]`, whole."""
    low, high = max(0, start - radius), min(len(text), end + radius)
    touching = [(s, e) for s, e in sentences(text) if e >= low and s <= high]
    if not touching:
        return excerpt(text, 0, len(text))
    return excerpt(text, min(touching[0][0], start), max(touching[-1][1], end))


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


def overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


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


def find_all(text: str, anchor: str) -> list[int]:
    """Start of every occurrence, overlapping ones included (as the text node counts)."""
    found, index = [], text.find(anchor) if anchor else -1
    while index != -1:
        found.append(index)
        index = text.find(anchor, index + 1)
    return found


@dataclass(frozen=True)
class Located:
    span: Span
    occurrence: int  # 1-based, as the text node's `occurrence`
    count: int


def locate(text: str, anchor: str, near: int = 0) -> Located | None:
    """The occurrence of `anchor` closest to position `near`, or None if absent."""
    starts = find_all(text, anchor)
    if not starts:
        return None
    index = min(range(len(starts)), key=lambda i: abs(starts[i] - near))
    return Located((starts[index], starts[index] + len(anchor)), index + 1, len(starts))


def closest_sentence(text: str, anchor: str, cutoff: float = 0.8) -> str | None:
    """The sentence of `text` someone most likely meant when they copied `anchor`
    imperfectly (a changed quote mark, a dropped word), if any is close enough."""
    candidates = [text[s:e] for s, e in sentences(text)]
    match = difflib.get_close_matches(anchor, candidates, n=1, cutoff=cutoff)
    return match[0] if match else None


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
