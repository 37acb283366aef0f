"""Resolving an anchored edit against a text, the one rule the text node applies and
the web's authorship replay repeats: pure, on a `str` (offsets in code points, as
the replay counts) or on its UTF-8 `bytes` (offsets in bytes, as Yrs counts: the
text node's way). UTF-8 is self-synchronising, so an
anchor can only match at a character boundary: Cyrillic and emoji anchors match the
same in both, and the node splices bytes, a plain memory copy, where a string
holding one emoji costs four bytes a character in CPython."""

from dataclasses import dataclass
from typing import AnyStr, Generic, Protocol


class AnchoredOp(Protocol):
    """Where an edit goes and what it inserts (the text node's `EditOp` is one)."""

    @property
    def type(self) -> str: ...  # insert_after, insert_before, replace, delete or append

    @property
    def anchor(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def occurrence(self) -> int | None: ...


class AnchorError(Exception):
    code = "anchor_error"

    def __init__(self, detail: str, matches: int):
        super().__init__(detail)
        self.detail, self.matches = detail, matches


class AnchorNotFound(AnchorError):
    code = "anchor_not_found"


class AnchorAmbiguous(AnchorError):
    code = "anchor_ambiguous"


@dataclass(frozen=True)
class Splice(Generic[AnyStr]):
    """Replace `text[start:end]` with `insert`."""

    start: int
    end: int
    insert: AnyStr

    def apply(self, text: AnyStr) -> AnyStr:
        return text[: self.start] + self.insert + text[self.end :]


def find_all(text: AnyStr, anchor: AnyStr) -> list[int]:
    """Start index of every occurrence of `anchor`, overlapping ones included."""
    found, index = [], text.find(anchor)
    while index != -1:
        found.append(index)
        index = text.find(anchor, index + 1)
    return found


def resolve(text: AnyStr, op: AnchoredOp) -> Splice[AnyStr]:
    utf8 = isinstance(text, bytes)
    insert = op.text.encode() if utf8 else op.text
    if op.type == "append":
        return Splice(len(text), len(text), insert)
    anchor = op.anchor.encode() if utf8 else op.anchor
    matches = find_all(text, anchor)
    if not matches:
        raise AnchorNotFound(f"anchor {op.anchor[:80]!r} is not in the current text", 0)
    if op.occurrence is None:
        if len(matches) > 1:
            raise AnchorAmbiguous(
                f"anchor {op.anchor[:80]!r} occurs {len(matches)} times; give `occurrence`",
                len(matches),
            )
        start = matches[0]
    elif op.occurrence > len(matches):
        raise AnchorNotFound(
            f"anchor occurs {len(matches)} times, occurrence {op.occurrence} asked", len(matches)
        )
    else:
        start = matches[op.occurrence - 1]
    end = start + len(anchor)
    match op.type:
        case "insert_after":
            return Splice(end, end, insert)
        case "insert_before":
            return Splice(start, start, insert)
        case "replace":
            return Splice(start, end, insert)
        case "delete":
            return Splice(start, end, insert[:0])
    raise AssertionError(op.type)
