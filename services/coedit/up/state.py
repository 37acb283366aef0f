"""The running session's state file (`state.json`: components, URLs, ports, pids,
the token) and the lock that says a `coedit up` owns the data directory."""

import fcntl
import json
import os
import signal
from pathlib import Path

from pydantic import BaseModel

from coedit.up.files import save_private

STATE_FILE = "state.json"
LOCK_FILE = "up.lock"


class ComponentState(BaseModel):
    name: str
    kind: str  # server, service or agent
    url: str | None = None
    port: int | None = None
    pid: int | None = None  # also its process group id (every child leads its own group)
    exit_code: int | None = None
    restarts: int = 0


class UpState(BaseModel):
    pid: int  # the `coedit up` process
    running: bool
    ready: bool = False
    web_url: str | None = None
    api_url: str | None = None  # the runner's own API (GET /api/agents)
    auth_token: str
    components: list[ComponentState]

    def component(self, name: str) -> ComponentState:
        return next(c for c in self.components if c.name == name)

    def save(self, data_dir: Path) -> None:
        save_private(Path(data_dir) / STATE_FILE, self.model_dump())


def load_state(data_dir: Path) -> UpState | None:
    path = Path(data_dir) / STATE_FILE
    return UpState.model_validate(json.loads(path.read_text())) if path.exists() else None


class DataDirLock:
    """An exclusive flock on `up.lock`: held while `coedit up` runs, released by the
    kernel when it dies however it dies, so it never goes stale."""

    def __init__(self, data_dir: Path):
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        self.path = Path(data_dir) / LOCK_FILE
        self.file = None

    def acquire(self) -> bool:
        self.file = open(self.path, "a")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            self.file.close()
            self.file = None
            return False

    def release(self) -> None:
        if self.file:
            self.file.close()
            self.file = None


def is_running(data_dir: Path) -> bool:
    """Whether a `coedit up` holds the data directory now."""
    if not (Path(data_dir) / LOCK_FILE).exists():
        return False
    lock = DataDirLock(data_dir)
    if lock.acquire():
        lock.release()
        return False
    return True


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def reap_orphans(state: UpState) -> list[str]:
    """Kill what a `coedit up` that died without cleaning up left running (its
    children lead their own process groups). Call only while holding the lock."""
    reaped = []
    for component in state.components:
        if component.pid and group_alive(component.pid) and _ours(component.pid):
            os.killpg(component.pid, signal.SIGKILL)
            reaped.append(component.name)
    return reaped


def _ours(pid: int) -> bool:
    """Guard against a recycled pid: only coedit's services and its servers."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return any(word in cmdline for word in ("coedit", "postgres", "redis"))
