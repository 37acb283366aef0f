"""Fault tests report what they measured (edits acknowledged and lost, seconds to
converge or recover) as one JSON line each, for docs/reliability.md; seen with
`pytest -s`. They assert on counts, never on these times."""

import json


def report(test: str, **figures) -> None:
    print(f"\nfigures {json.dumps({'test': test, **figures})}", flush=True)
