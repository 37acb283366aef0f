"""The merged log of `coedit up`: one line per child's log line, the component's
name in its colour in front, JSON log lines summarised to `level event key=value`,
and a progress line while the session starts."""

import json
import os
import re
import sys
from typing import TextIO

COLOURS = [36, 32, 35, 34, 33, 96, 92, 95, 94, 93]
LEVEL_COLOURS = {"warning": 33, "error": 31, "critical": 31}
# Fields every service line has that say nothing to a person watching.
NOISE = {"timestamp", "service", "logger", "request_id", "trace_id", "span_id", "level", "event",
         "agent_id"}
# Routine lines kept in the log files but not shown: uvicorn's life cycle, client requests.
ROUTINE = ("Started server process", "Waiting for application", "Application startup complete",
           "Application shutdown complete", "Uvicorn running on", "Shutting down",
           "Finished server process", "HTTP Request:")
# uvicorn's own access line, as a server without JSON logs prints it (the local model's)
PLAIN_ACCESS = re.compile(r'^INFO:\s+\S+ - "[A-Z]+ \S+ HTTP/[\d.]+" (\d{3})')


def summarise(line: str, access_log: bool = False) -> tuple[str, str] | None:
    """(level, readable text) of one log line, or None when it is a routine
    access-log line (shown only with `access_log`, or when it is a 5xx)."""
    try:
        record = json.loads(line)
    except ValueError:
        access = PLAIN_ACCESS.match(line)
        if access and not access_log and int(access[1]) < 500:
            return None
        return "info", line
    if not isinstance(record, dict):
        return "info", line
    level, event = str(record.get("level", "info")), str(record.get("event", ""))
    if event == "request" and {"method", "path", "status"} <= record.keys():
        if not access_log and int(record["status"]) < 500:
            return None
        return level, f"{record['method']} {record['path']} {record['status']} {record.get('ms')} ms"
    if event.startswith(ROUTINE) and not access_log:
        return None
    fields = " ".join(f"{k}={_short(v)}" for k, v in record.items() if k not in NOISE)
    return level, f"{event} {fields}".strip()


def _short(value, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if " " in text and isinstance(value, str):
        text = json.dumps(text, ensure_ascii=False)
    return _clip(text, limit)


class Console:
    def __init__(self, names: list[str], out: TextIO = sys.stdout):
        self.out = out
        self.tty = out.isatty()
        self.colour = self.tty and not os.environ.get("NO_COLOR")
        self.width = max(len(n) for n in names)
        self.colours = {n: COLOURS[i % len(COLOURS)] for i, n in enumerate(names)}
        self.status: str | None = None
        self.shown_ready: list[str] = []

    def _paint(self, code: int | None, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour and code else text

    def line(self, name: str, text: str, level: str = "info") -> None:
        prefix = self._paint(self.colours.get(name, 37), f"{name:>{self.width}} |")
        self._write(f"{prefix} {self._paint(LEVEL_COLOURS.get(level), text)}\n")

    def say(self, text: str) -> None:
        self.line("up", text)

    def progress(self, ready: list[str], waiting: list[str], seconds: float) -> None:
        """The start-up progress: one line redrawn in place on a terminal; elsewhere
        a line each time something becomes ready."""
        if self.tty:
            marks = [f"{n} ✓" for n in ready] + [f"{n} …" for n in waiting]
            self.status = f"starting ({seconds:.0f} s): " + "  ".join(marks)
            self._write("")
            return
        for name in ready[len(self.shown_ready):]:
            self.say(f"{name} ready ({seconds:.1f} s)")
        self.shown_ready = list(ready)

    def done(self) -> None:
        """Remove the progress line."""
        if self.status:
            self.status = None
            self._write("")

    def _write(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\033[K" + text + (self._paint(2, self.status) if self.status else ""))
        else:
            self.out.write(text)
        self.out.flush()


def edit_line(edit: dict) -> str:
    """One version in a line: `v12 agent-3 insert_after «anchor» summary`."""
    op = edit.get("op") or {}
    anchor = f" «{_clip(op['anchor'], 40)}»" if op.get("anchor") else ""
    summary = f" {_clip(edit['summary'], 100)}" if edit.get("summary") else ""
    return f"v{edit['version']} {edit.get('agent_id')} {op.get('type')}{anchor}{summary}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
