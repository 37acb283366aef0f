"""Resolving an anchored edit against a text: pure, in Python string indices
(Unicode code points), so Cyrillic and emoji count as one character each."""

from dataclasses import dataclass

from coedit.text_node.models import EditOp


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
class Splice:
    """Replace `text[start:end]` with `insert`."""

    start: int
    end: int
    insert: str

    def apply(self, text: str) -> str:
        return text[: self.start] + self.insert + text[self.end :]


def find_all(text: str, anchor: str) -> list[int]:
    """Start index of every occurrence of `anchor`, overlapping ones included."""
    found, index = [], text.find(anchor)
    while index != -1:
        found.append(index)
        index = text.find(anchor, index + 1)
    return found


def resolve(text: str, op: EditOp) -> Splice:
    if op.type == "append":
        return Splice(len(text), len(text), op.text)
    matches = find_all(text, op.anchor)
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
    end = start + len(op.anchor)
    match op.type:
        case "insert_after":
            return Splice(end, end, op.text)
        case "insert_before":
            return Splice(start, start, op.text)
        case "replace":
            return Splice(start, end, op.text)
        case "delete":
            return Splice(start, end, "")
    raise AssertionError(op.type)
