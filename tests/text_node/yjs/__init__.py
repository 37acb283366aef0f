"""Real Yjs clients (npm `yjs` + `y-websocket`, in Node) driven from the tests."""

import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

HERE = Path(__file__).parent


def install() -> None:
    """`npm ci` from the committed lockfile, once (the test run installs the clients)."""
    if (HERE / "node_modules" / "y-websocket").is_dir():
        return
    if shutil.which("npm") is None:
        raise RuntimeError("these tests need Node 20+ and npm")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300,
                   stdout=subprocess.DEVNULL)


class YClient:
    """One person's editor: a Y.Doc bound to a text node by y-websocket's WebsocketProvider."""

    def __init__(self, url: str, name: str, token: str):
        self.name = name
        self.process = subprocess.Popen(
            ["node", str(HERE / "yclient.mjs"), url, name, token], cwd=HERE, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._answers: queue.Queue = queue.Queue()
        self.events: list[dict] = []
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            message = json.loads(line)
            (self._answers.put if "id" in message else self.events.append)(message)

    def call(self, cmd: str, timeout: float = 30, **args) -> dict:
        self._next_id += 1
        self.process.stdin.write(json.dumps({"id": self._next_id, "cmd": cmd, **args}) + "\n")
        self.process.stdin.flush()
        answer = self._answers.get(timeout=timeout)
        assert answer["id"] == self._next_id, answer
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["result"]

    def state(self) -> dict:
        return self.call("state")

    def wait(self, predicate, timeout: float = 15, what: str = "") -> dict:
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if predicate(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: not {what or predicate} after {timeout} s: {state}")
            time.sleep(0.05)

    def wait_synced(self, timeout: float = 15) -> dict:
        return self.wait(lambda s: s["synced"] and s["connected"], timeout, "synced")

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.call("quit", timeout=5)
                self.process.wait(timeout=5)
            except Exception:
                self.process.kill()
            self.process.wait()
