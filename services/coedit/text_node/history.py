"""Text of past versions: a plain-text snapshot plus the deltas recorded after it.

Deltas are Yjs text deltas (UTF-8 byte offsets, as pycrdt reports them), so they
are replayed on a scratch pycrdt Text, which also makes each step cheap on long
documents (no copy of the whole string per delta)."""

from pycrdt import Doc, Text


def replay(text: str, deltas: list[list[dict]]) -> str:
    doc = Doc()
    scratch = doc.get("text", type=Text)
    with doc.transaction():
        scratch.insert(0, text)
        for delta in deltas:
            position = 0
            for step in delta:
                if "retain" in step:
                    position += step["retain"]
                elif "insert" in step:
                    scratch.insert(position, step["insert"])
                    position += len(step["insert"].encode())
                elif "delete" in step:
                    del scratch[position : position + step["delete"]]
    return str(scratch)


def snapshot_due(delta_chars_since: int, versions_since: int, text_chars: int) -> bool:
    """Take a text snapshot once the deltas since the last one outweigh the text
    itself (so snapshots never cost more than the deltas: storage stays linear in
    the edits) or once replay would pass 500 versions (keeps any version fast)."""
    return delta_chars_since >= max(text_chars, 4096) or versions_since >= 500
