"""Where passages are in a text, as every part finds them the same way: sentence-aligned
excerpts around a place, an anchor's occurrences (counted as the text node counts
them) and the one nearest a position, the sentence an imperfect quote meant. The
agents and the MCP server both use it (sentences themselves: coedit.common.agent_protocol)."""

import difflib
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


def overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


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
