"""Resolving an anchored edit against the text's UTF-8 bytes: pure, in byte
offsets, as Yrs counts them. UTF-8 is self-synchronising, so an anchor can only
match at a character boundary: Cyrillic and emoji anchors match exactly as they
would in a Python string, and searching or splicing bytes costs a memory copy
where a string holding an emoji (four bytes a character in CPython) costs more."""

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
    """Replace `text[start:end]` (UTF-8 byte offsets) with `insert`."""

    start: int
    end: int
    insert: bytes

    def apply(self, text: bytes) -> bytes:
        return text[: self.start] + self.insert + text[self.end :]


def find_all(text: bytes, anchor: bytes) -> list[int]:
    """Start index of every occurrence of `anchor`, overlapping ones included."""
    found, index = [], text.find(anchor)
    while index != -1:
        found.append(index)
        index = text.find(anchor, index + 1)
    return found


def resolve(text: bytes, op: EditOp) -> Splice:
    insert = op.text.encode()
    if op.type == "append":
        return Splice(len(text), len(text), insert)
    anchor = op.anchor.encode()
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
            return Splice(start, end, b"")
    raise AssertionError(op.type)
