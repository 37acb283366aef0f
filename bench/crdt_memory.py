"""The soak's memory reference: what the replicated document alone holds per edit.

`python -m bench.crdt_memory RECORDS_FILE INITIAL_TEXT_FILE` replays a text node's log
(a JSON list of its `/internal/log` records, as the soak saves it) into a bare
`ReplicatedDocument` in this fresh process, no server around it, and prints JSON:
the RSS growth per edit over the second half of the log (the first half plays the
soak's warm-up). A text node that grows by about this much per edit holds nothing
but its document; more would be the server's own (a leak)."""

import gc
import json
import sys
from pathlib import Path

import psutil

from coedit.text_node.document import ReplicatedDocument
from coedit.text_node.memory import release_freed_memory
from coedit.text_node.store import decode


def rss_bytes() -> int:
    gc.collect()
    release_freed_memory()
    return psutil.Process().memory_info().rss


def replay(records: list[dict], initial_text: str) -> dict:
    doc = ReplicatedDocument(initial_text)
    half = len(records) // 2
    for record in records[:half]:
        doc.apply_update(decode(record["update"]), record["record_id"] if record["kind"] == "edit" else None)
    before, version_before = rss_bytes(), doc.version
    for record in records[half:]:
        doc.apply_update(decode(record["update"]), record["record_id"] if record["kind"] == "edit" else None)
    edits = doc.version - version_before
    grown = rss_bytes() - before
    return {"records": len(records), "edits_measured": edits,
            "growth_kib_per_edit": round(grown / 1024 / edits, 2) if edits else None}


def main() -> None:
    records_file, initial_text_file = sys.argv[1:3]
    records = json.loads(Path(records_file).read_text())
    print(json.dumps(replay(records, Path(initial_text_file).read_text())))


if __name__ == "__main__":
    main()
