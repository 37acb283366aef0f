"""Reading a service's log file: structlog writes one JSON object a line."""

import json
from pathlib import Path


def log_records(path: Path) -> list[dict]:
    """Every JSON line of the log at `path` (the whole file: `ServiceProcess.logs()` gives its tail)."""
    return [json.loads(line) for line in path.read_text(errors="replace").splitlines() if line.startswith("{")]
