"""coedit's own commands as child processes, the way a user would start them
(integration tests, benchmarks)."""

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from coedit.local.servers import free_port, stop_group


def die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL it when the process that
    started it dies, so a killed test run or benchmark leaves no services behind."""
    if sys.platform == "linux":
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


PR_SET_PDEATHSIG = 1


class ServiceProcess:
    """`coedit <command> --port P ...` in its own process group, logging to a file."""

    ready_path = "/readyz"  # answers 200 once the service serves

    def __init__(self, command: str, args: list[str], log_dir: Path, name: str | None = None,
                 env: dict[str, str] | None = None, port: int | None = None):
        self.command, self.args = command, args
        self.name = name or command
        self.port = port or free_port()
        self.log_path = Path(log_dir) / f"{self.name}.log"
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "coedit", self.command, "--port", str(self.port), *self.args]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True, timeout: float = 60) -> "ServiceProcess":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.argv(), stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
            preexec_fn=die_with_parent,
        )
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}{self.ready_path}", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout} s:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine dies."""
        stop_group(self.process, signal.SIGKILL, timeout=10)

    def stop(self, timeout: float = 10) -> None:
        stop_group(self.process, signal.SIGTERM, timeout)
