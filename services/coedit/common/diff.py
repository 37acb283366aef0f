"""Word-level diff between two texts: the document page shows it, the MCP server's
`diff` tool answers it."""

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

_TOKEN = re.compile(r"\S+\s*|\s+")
# Words of the changed middle of one text times those of the other past which the
# diff shows that middle as one change instead of matching it word by word
# (SequenceMatcher can take time in proportion to that product).
MAX_MATCH_WORK = 50_000_000


@dataclass(frozen=True)
class Segment:
    kind: Literal["equal", "insert", "delete"]
    text: str


def tokenize(text: str) -> list[str]:
    """Words (with their punctuation) each with the whitespace after it; joined,
    the text again."""
    return _TOKEN.findall(text)


def _key(token: str) -> str:
    """What tokens are compared by: the word without its trailing whitespace, so
    `end.` at the end of a text matches `end. ` in the middle of the next one."""
    return token.rstrip() or token


def _common_prefix(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class _Builder:
    """Collects pieces per run of one kind and joins each run once at the end:
    adding to a growing string would copy it every time (quadratic on long texts)."""

    def __init__(self):
        self.runs: list[tuple[str, list[str]]] = []

    def add(self, kind: str, text: str) -> None:
        if not text:
            return
        if self.runs and self.runs[-1][0] == kind:
            self.runs[-1][1].append(text)
        else:
            self.runs.append((kind, [text]))

    def segments(self) -> list[Segment]:
        return [Segment(kind, "".join(pieces)) for kind, pieces in self.runs]

    def equal_tokens(self, old: list[str], new: list[str]) -> None:
        """Tokens with equal words; whitespace that differs shows as changed."""
        for a, b in zip(old, new):
            word = _key(a) if a.strip() else ""
            self.add("equal", word)
            if a[len(word):] == b[len(word):]:
                self.add("equal", a[len(word):])
            else:
                self.add("delete", a[len(word):])
                self.add("insert", b[len(word):])


def word_diff(old: str, new: str) -> list[Segment]:
    """Segments that rebuild `old` from equal+delete and `new` from equal+insert.
    The shared head and tail are cut off first (between two versions of a long
    document only a small middle differs); difflib's automatic junk heuristic
    keeps very common words from making the match quadratic."""
    a, b = tokenize(old), tokenize(new)
    ka, kb = [_key(t) for t in a], [_key(t) for t in b]
    head = _common_prefix(ka, kb)
    tail = _common_prefix(ka[head:][::-1], kb[head:][::-1])
    out = _Builder()
    out.equal_tokens(a[:head], b[:head])
    middle_a, middle_b = ka[head : len(a) - tail], kb[head : len(b) - tail]
    if len(middle_a) * len(middle_b) > MAX_MATCH_WORK:  # too costly to match word by word:
        opcodes = [("replace", 0, len(middle_a), 0, len(middle_b))]  # the middle as one change
    else:
        opcodes = SequenceMatcher(None, middle_a, middle_b).get_opcodes()
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            out.equal_tokens(a[head + i1 : head + i2], b[head + j1 : head + j2])
        else:
            out.add("delete", "".join(a[head + i1 : head + i2]))
            out.add("insert", "".join(b[head + j1 : head + j2]))
    out.equal_tokens(a[len(a) - tail :], b[len(b) - tail :])
    return out.segments()


def diff_stats(segments: list[Segment]) -> dict[str, int]:
    """Words inserted and deleted."""
    counts = {"insert": 0, "delete": 0}
    for segment in segments:
        if segment.kind in counts:
            counts[segment.kind] += len(segment.text.split())
    return {"inserted_words": counts["insert"], "deleted_words": counts["delete"]}
