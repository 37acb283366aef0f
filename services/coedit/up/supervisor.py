"""`coedit up`: start the session's servers and processes in order of readiness,
keep them running (restart with back-off), merge their logs, stop everything on
Ctrl-C or SIGTERM, leaving the data in the data directory."""

import asyncio
import contextlib
import ctypes
import logging.handlers
import os
import signal
import sys
import time
from pathlib import Path

import httpx

from coedit.chat.client import ChatClient
from coedit.chat.models import SessionCompletion
from coedit.common.client import ServiceError
from coedit.common.stopping import Stop, stop_reason
from coedit.local.servers import PostgresServer, RedisServer, ServerError, port_is_free
from coedit.text_node.client import TextNodeClient
from coedit.up import api
from coedit.up.components import NODES, Component, derive_ports, mcp_connect_command, plan, session_limits
from coedit.up.console import Console, edit_line, summarise
from coedit.up.local_llm import LocalLLMUnavailable
from coedit.up.session_file import resolve_session
from coedit.up.settings import UpSettings
from coedit.up.state import (
    ComponentState,
    DataDirLock,
    UpState,
    load_state,
    reap_orphans,
)

LOG_BYTES, LOG_BACKUPS = 10 << 20, 3  # per component: 40 MiB at most
READER_WAIT = 120.0  # seconds `coedit up` waits for a status/export reading the stopped session
STARTUP_TIMEOUT = 300.0  # seconds; generous, the machine may be shared
STOP_TIMEOUT = 15.0
STABLE_AFTER = 60.0  # a process up this long has its crash count reset
TICK = 2.0
SHOWN_EDITS = 20  # new versions listed per tick at most


def restart_delay(failures: int) -> float:
    """Back-off before restarting a crashed process: 1, 2, 4, ... capped at 30 s."""
    return float(min(30, 2 ** max(0, failures - 1)))


def _die_with_parent() -> None:
    """In the child: SIGTERM if `coedit up` dies without stopping us (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """One coedit process, restarted when it crashes (an agent that exits 0 is done)."""

    def __init__(self, component: Component, supervisor: "Supervisor"):
        self.component = component
        self.supervisor = supervisor
        self.process: asyncio.subprocess.Process | None = None
        self.exit_code: int | None = None
        self.restarts = 0
        self.done = False
        self.retired = False  # stopped for good: the session met a stop condition

    @property
    def name(self) -> str:
        return self.component.name

    def state(self) -> ComponentState:
        running = self.process is not None and self.process.returncode is None
        return ComponentState(
            name=self.name, kind=self.component.kind, url=self.component.url,
            port=self.component.port, pid=self.process.pid if running else None,
            exit_code=self.exit_code, restarts=self.restarts,
        )

    async def start(self) -> None:
        env = {**os.environ, **self.component.env, "PYTHONUNBUFFERED": "1"}
        self.process = await asyncio.create_subprocess_exec(
            *self.component.argv,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True,
            preexec_fn=_die_with_parent, limit=1 << 20,
        )
        self.exit_code = None
        self.supervisor.save_state()

    async def supervise(self) -> None:
        failures = 0
        while not self.supervisor.stopping.is_set():
            started = time.monotonic()
            await self.start()
            if self.supervisor.stopping.is_set():  # shutdown began while it was starting
                await self.stop()
            await self._pump(self.process.stdout)
            self.exit_code = await self.process.wait()
            self.supervisor.save_state()
            if self.supervisor.stopping.is_set():
                return
            if self.retired or (self.component.kind == "agent" and self.exit_code == 0):
                self.done = True
                self.supervisor.console.line(self.name, "finished")
                return
            failures = 1 if time.monotonic() - started > STABLE_AFTER else failures + 1
            delay = restart_delay(failures)
            self.supervisor.console.line(
                self.name, f"exited with code {self.exit_code}; restarting in {delay:.0f} s", "warning")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.supervisor.stopping.wait(), delay)
                return
            self.restarts += 1

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        log = rotating_log(self.supervisor.data_dir / "logs" / f"{self.name}.log")
        try:
            while True:
                try:
                    raw = await stream.readline()
                except ValueError:  # a line over the limit: take what is there
                    raw = await stream.read(1 << 20)
                if not raw:
                    return
                line = raw.decode(errors="replace").rstrip("\n")
                log.emit(logging.makeLogRecord({"msg": line}))
                shown = summarise(line, self.supervisor.settings.access_log)
                if shown:
                    self.supervisor.console.line(self.name, shown[1], shown[0])
        finally:
            log.close()

    async def retire(self) -> None:
        self.retired = True
        await self.stop()

    async def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL after a grace period (or at once
        after a second Ctrl-C)."""
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        waiting = asyncio.ensure_future(self.process.wait())
        forced = asyncio.ensure_future(self.supervisor.force.wait())
        await asyncio.wait({waiting, forced}, timeout=STOP_TIMEOUT,
                           return_when=asyncio.FIRST_COMPLETED)
        forced.cancel()
        # Kill the whole group even when the leader exited: nothing of it may outlive us.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await waiting


def rotating_log(path: Path) -> logging.handlers.RotatingFileHandler:
    """A component's log file, rotated by size (the seed's logs grew to 5 GB a day):
    at most LOG_BYTES x (LOG_BACKUPS + 1) per component, whatever the session's length."""
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS,
                                                   encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


class Server:
    """A PostgreSQL or Redis server (blocking API, run in threads), restarted if it dies."""

    def __init__(self, name: str, server: PostgresServer | RedisServer):
        self.name, self.server = name, server

    def state(self) -> ComponentState:
        process = self.server.process
        alive = process is not None and process.poll() is None
        return ComponentState(name=self.name, kind="server", url=self.server.url,
                              port=self.server.port, pid=process.pid if alive else None)

    async def start(self) -> None:
        await asyncio.to_thread(self.server.start)

    async def supervise(self, supervisor: "Supervisor") -> None:
        failures = 0
        while not supervisor.stopping.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(supervisor.stopping.wait(), 1.0)
                return
            if self.server.process is None or self.server.process.poll() is None:
                continue
            failures += 1
            supervisor.console.line(self.name, "server exited; restarting", "warning")
            await asyncio.sleep(restart_delay(failures))
            try:
                await self.start()
                supervisor.save_state()
            except Exception as exc:  # try again after the next back-off
                supervisor.console.line(self.name, f"restart failed: {exc}", "error")

    async def stop(self) -> None:
        await asyncio.to_thread(self.server.stop)


class Supervisor:
    def __init__(self, settings: UpSettings):
        self.settings = settings
        self.data_dir = Path(settings.data_dir).resolve()
        self.stopping = asyncio.Event()
        self.force = asyncio.Event()
        self.servers: list[Server] = []
        self.children: list[Child] = []
        self.tasks: list[asyncio.Task] = []
        self.console = Console(["up"])
        self.token = ""
        self.ready = False
        self.ready_names: list[str] = []
        self.web_url: str | None = None
        self.api: api.Server | None = None
        self.limits = session_limits(settings, settings.budget)  # with the session's own budget once it is resolved
        self.completion: Stop | None = None  # the first stop condition met
        self.up_since = time.monotonic()

    def save_state(self, running: bool = True) -> None:
        UpState(
            pid=os.getpid(), running=running, ready=self.ready, web_url=self.web_url,
            api_url=f"http://127.0.0.1:{self.api.config.port}" if self.api else None,
            auth_token=self.token,
            components=[s.state() for s in self.servers] + [c.state() for c in self.children],
        ).save(self.data_dir)

    def _on_signal(self) -> None:
        if self.stopping.is_set():
            self.force.set()
            self.console.say("stopping now (second signal)")
        else:
            self.console.done()
            self.console.say("stopping (Ctrl-C again to kill)")
            self.stopping.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        # SIGHUP: the terminal was closed; stop everything as for Ctrl-C
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, self._on_signal)
        try:
            return await self._run()
        finally:
            self.stopping.set()
            await self._shutdown()

    async def _run(self) -> int:
        settings, started = self.settings, time.monotonic()
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        session, warnings = resolve_session(settings)
        self.token, self.limits = session.auth_token, session_limits(settings, session.budget)
        for warning in warnings:
            self.console.line("up", warning, "warning")
        if not port_is_free(settings.port):
            self.console.line("up", f"port {settings.port} is in use: pass another --port", "error")
            return 1
        self.servers = [Server(f"pg-{n}", PostgresServer(self.data_dir / f"pg-{n}"))
                        for n in (*NODES, "analytics")]
        self.servers.append(Server("redis", RedisServer(self.data_dir / "redis")))
        ports = derive_ports(settings.port)
        try:
            components = plan(settings, session, ports, {s.name: s.server.url for s in self.servers})
        except LocalLLMUnavailable as exc:
            self.console.line("up", str(exc), "error")
            return 1
        self.api = api.server(self, ports["up"])
        self.tasks.append(asyncio.create_task(self.api.serve()))
        self.children = [Child(c, self) for c in components]
        self.web_url = next((c.url for c in components if c.name == "web"), None)
        self.console = Console(["up", "edits", *(s.name for s in self.servers), *(c.name for c in components)])
        self.console.progress([], ["servers"], 0)
        self.save_state()
        stages = [[c for c in self.children if c.component.kind in ("service", "model") and c.name != "web"],
                  [c for c in self.children if c.name == "web"],
                  [c for c in self.children if c.component.kind == "agent"]]
        # The services are launched with the servers: they wait for their database
        # with retries, so Python's start-up overlaps PostgreSQL's. The web UI waits
        # for every service to be ready, the agents for the web UI.
        servers = asyncio.gather(*(s.start() for s in self.servers))
        self.tasks += [asyncio.create_task(c.supervise()) for c in stages[0]]
        try:
            await servers
        except ServerError as exc:
            self.console.line("up", str(exc), "error")
            return 1
        self.ready_names.append("servers")
        self.save_state()
        self.tasks += [asyncio.create_task(s.supervise(self)) for s in self.servers]
        for number, stage in enumerate(stages):
            if number:
                self.tasks += [asyncio.create_task(c.supervise()) for c in stage]
            if not await self._wait_ready([c for c in stage if c.component.url], started):
                return 0 if self.stopping.is_set() else 1
        self.ready = True
        self.save_state()
        self.console.done()
        self.up_since = time.monotonic()
        self._announce(session, time.monotonic() - started)
        await self._tick()
        return 0

    async def _wait_ready(self, stage: list[Child], started: float) -> bool:
        waiting = {c.name: c for c in stage}
        async with httpx.AsyncClient(timeout=2) as client:
            while waiting:
                if self.stopping.is_set():
                    return False
                if time.monotonic() - started > STARTUP_TIMEOUT:
                    self.console.line("up", f"not ready after {STARTUP_TIMEOUT:.0f} s: "
                                      f"{', '.join(waiting)} (logs in {self.data_dir / 'logs'})", "error")
                    return False
                for name, child in list(waiting.items()):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(child.component.ready_url)).status_code == 200:
                            del waiting[name]
                            self.ready_names.append(name)
                self.console.progress(self.ready_names, list(waiting), time.monotonic() - started)
                if waiting:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), 0.2)
        return True

    def _announce(self, session, seconds: float) -> None:
        agents = sum(c.component.kind == "agent" for c in self.children)
        text_a = self.children[0].component.url
        self.console.say(f"ready in {seconds:.1f} s: {agents} agent{'' if agents == 1 else 's'} writing, "
                         f"budget {self.limits.tokens:,} tokens, data in {self.data_dir}")
        if self.web_url:
            # Jupyter's way: the token in the URL signs the browser in (the UI keeps it in a cookie)
            self.console.say(f"open {self.web_url}/?token={self.token} (without the token the UI is read-only)")
        else:
            self.console.say(f"no web UI in this build; `coedit export` prints the document (text node {text_a})")
        mcp = next((c.component for c in self.children if c.name == "mcp"), None)
        if mcp is not None:
            self.console.say(f"outside agents join over MCP as {self.settings.mcp_agent!r}: "
                             f"{mcp_connect_command(mcp.url, session.mcp_token)}")
        self.console.say("Ctrl-C stops the session (the data stays)")

    async def _tick(self) -> None:
        """Report each new version (who did what) and the budget as they change."""
        last: dict = {}
        finished_said = False
        agents = [c for c in self.children if c.component.kind == "agent"]
        async with httpx.AsyncClient(timeout=2) as http:
            nodes = [TextNodeClient(c.component.url, http=http) for c in self.children if c.name.startswith("text-")]
            while not self.stopping.is_set():
                for node in nodes:
                    with contextlib.suppress(ServiceError, ValueError):
                        await self._report(node, last)
                        break
                if agents and not finished_said and all(a.done for a in agents):
                    finished_said = True
                    self.console.say("every agent has finished; the session stays up for "
                                     "reading. Ctrl-C to stop")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), TICK)

    async def _check_stop(self, version: int, budget: dict) -> None:
        """The first stop condition met completes the session: the budget stops the
        agents by itself (429), versions and duration are stopped here."""
        if self.completion is not None:
            return
        stop = stop_reason(self.limits, used=budget["spent"], exhausted=budget["exhausted"], version=version,
                           elapsed=time.monotonic() - self.up_since)
        if stop is None:
            return
        self.completion = stop
        self.console.say(f"session complete: {stop.message}")
        await self._tell_chat(stop)
        if stop.reason in ("MaxVersions", "MaxDuration"):
            await asyncio.gather(*(c.retire() for c in self.children if c.component.kind == "agent"))

    async def _tell_chat(self, stop: Stop) -> None:
        """The chat keeps the completion, so every page, agent and outside agent sees why
        the session is over (best effort: the console and `up`'s API say it too)."""
        chat = next((c for c in self.children if c.name == "chat"), None)
        if chat is None:
            return
        async with ChatClient(chat.component.url, token=self.token, timeout=5) as client:
            try:
                await client.complete(SessionCompletion(reason=stop.reason, message=stop.message))
            except ServiceError as error:
                self.console.line("up", f"the chat was not told the session is complete: {error}", "warning")

    async def _report(self, node: TextNodeClient, last: dict) -> None:
        """One tick: the edits after the last one shown, then version and budget if
        they changed (and whether a stop condition is met). `last` carries what was
        shown between ticks."""
        version = (await node.document()).version
        budget = (await node.budget()).model_dump()
        shown = last.setdefault("edit", version)  # the history before we started is not news
        edits = (await node.edits(after_version=shown, limit=SHOWN_EDITS)).edits
        for edit in edits:
            self.console.line("edits", edit_line(edit.model_dump()))
            last["edit"] = edit.version
        if len(edits) == SHOWN_EDITS and version > last["edit"]:
            self.console.line("edits", f"... and {version - last['edit']} more")
            last["edit"] = version
        if (version, budget["spent"]) != last.get("status"):
            self.console.say(f"document v{version} · tokens {budget['spent']:,} / {budget['limit']:,}"
                             + (" (budget spent)" if budget["exhausted"] else ""))
            last["status"] = (version, budget["spent"])
        await self._check_stop(version, budget)

    async def _shutdown(self) -> None:
        """Agents first (they cancel their intents), then the web UI, the services,
        and last the servers; the data directory keeps everything."""
        self.console.done()
        for group in (
            [c for c in self.children if c.component.kind == "agent"],
            [c for c in self.children if c.name == "web"],
            [c for c in self.children if c.component.kind in ("service", "model") and c.name != "web"],
        ):
            await asyncio.gather(*(c.stop() for c in group))
        if self.api:
            self.api.should_exit = True
        # Let the supervising tasks see the exits and end; one that was starting a
        # process when the stop began stops it itself.
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=STOP_TIMEOUT)
        await asyncio.gather(*(c.stop() for c in self.children))
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(*(s.stop() for s in self.servers), return_exceptions=True)
        self.ready = False
        if self.token:
            self.save_state(running=False)
        self.console.say("stopped; data kept in " + str(self.data_dir))


def main(settings: UpSettings) -> None:
    data_dir = Path(settings.data_dir)
    lock = DataDirLock(data_dir)
    if not lock.acquire("up"):
        if lock.holder() != "reader":
            sys.exit(f"coedit up is already running on {data_dir} (see `coedit status --data-dir {data_dir}`)")
        print(f"waiting for `coedit status` or `coedit export` to finish reading {data_dir}")
        if not lock.acquire_within("up", READER_WAIT):
            sys.exit(f"{data_dir} is still being read after {READER_WAIT:.0f} s; try again")
    try:
        previous = load_state(data_dir)
        if previous and (reaped := reap_orphans(previous)):
            print(f"stopped what an earlier coedit up left running: {', '.join(reaped)}")
        code = asyncio.run(Supervisor(settings).run())
    finally:
        lock.release()
    sys.exit(code)
