"""Reading a local session's document whether `coedit up` runs or not: a running
session's text node over HTTP, or, when it is stopped, text node a started briefly
on its own database from the data directory (same genesis, no peers), so the
reader is the text node's public API in both cases, never its tables."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx

from coedit.local.processes import ServiceProcess
from coedit.local.servers import PostgresServer
from coedit.up.session_file import load_session
from coedit.up.state import is_running, load_state


class NoSession(SystemExit):
    pass


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def text_node(data_dir: Path, timeout: float = 120) -> Iterator[str]:
    """The URL of a text node serving the session in `data_dir`, for as long as
    the block runs."""
    data_dir = Path(data_dir)
    session = load_session(data_dir)
    if session is None:
        raise NoSession(f"no session in {data_dir} (start one with `coedit up --data-dir {data_dir}`)")
    if is_running(data_dir):
        state = load_state(data_dir)
        for component in state.components if state else []:
            if component.name.startswith("text-") and component.url and _ready(component.url):
                yield component.url
                return
        raise NoSession(f"coedit up runs on {data_dir} but none of its text nodes is ready yet")
    server = PostgresServer(data_dir / "pg-a").start()
    node = ServiceProcess(
        "text-node",
        ["--node-id", "a", "--database-url", server.url, "--token-budget", str(session.budget),
         "--initial-text", session.initial_text],
        data_dir / "logs", name="text-a-offline", env={"COEDIT_AUTH_TOKEN": session.auth_token},
    )
    try:
        (data_dir / "logs").mkdir(exist_ok=True)
        node.start(timeout=timeout)
        yield node.url
    finally:
        node.stop()
        server.stop()
