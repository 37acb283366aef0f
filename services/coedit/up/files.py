"""Writing the data directory's files."""

import json
import os
from pathlib import Path


def save_private(path: Path, data: dict) -> None:
    """Write JSON atomically, readable by the owner only (it holds the token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, ensure_ascii=False, indent=2)
    os.replace(tmp, path)
