"""`coedit up` as a user runs it: a real process with three text nodes on their own
PostgreSQL servers, chat on Redis, analytics, the fake model and three agents.
One module-wide life cycle (start, write, crash a component, status, export,
Ctrl-C, status and export while stopped, start again, a hang-up, a third start and
SIGTERM) shared by the assertions, so the suite pays for three start-ups, not ten."""

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from coedit.local.servers import free_port
from coedit.up.components import PORT_OFFSETS
from coedit.up.session_file import SEED_TEXT, load_session
from coedit.up.state import group_alive, load_state
from coedit.mcp.client import connect
from tests.figures import report
from tests.text_node.yjs import YClient, install

BUDGET = 12_000
IDLE_SECONDS = 10
SERVICES = {"text-a", "text-b", "text-c", "chat", "analytics", "mcp", "fake-llm"}
CLAUDE_MCP_ADD = re.compile(r'claude mcp add --transport http coedit (\S+) --header "Authorization: Bearer (\S+)"')


@dataclass
class Observed:
    data_dir: Path
    state: dict = field(default_factory=dict)
    version_while_running: int = 0
    chat_pids: tuple[int, int] | None = None
    agents_api: dict = field(default_factory=dict)
    status_running: dict = field(default_factory=dict)
    export_running: dict = field(default_factory=dict)
    export_markdown: str = ""
    exit_code: int | None = None
    survivors: list[str] = field(default_factory=list)
    status_stopped: dict = field(default_factory=dict)
    export_stopped: dict = field(default_factory=dict)
    resumed: dict = field(default_factory=dict)
    second_log: str = ""
    mcp_agent: dict = field(default_factory=dict)
    status_while_starting: subprocess.CompletedProcess | None = None
    hangup_exit_code: int | None = None
    hangup_survivors: list[str] = field(default_factory=list)
    idle_log_bytes: dict[str, int] = field(default_factory=dict)  # what each log grew by in IDLE_SECONDS
    terminate_exit_code: int | None = None
    terminate_survivors: list[str] = field(default_factory=list)
    third_log: str = ""
    argv_with_a_secret: list[str] = field(default_factory=list)
    forged: dict = field(default_factory=dict)
    analytics_agents: set[str] = field(default_factory=set)
    person: dict = field(default_factory=dict)


def coedit(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coedit", *args], capture_output=True,
                          text=True, timeout=timeout, check=True)


def start_up(data_dir: Path, log: Path, *args: str) -> subprocess.Popen:
    """`coedit up` in its own process group, as a shell runs a foreground job."""
    return subprocess.Popen(
        [sys.executable, "-m", "coedit", "up", "--data-dir", str(data_dir),
         "--port", str(free_port(span=max(PORT_OFFSETS.values()) + 1)), "--fake-latency-ms", "0", *args],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def wait_for(condition, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} not after {timeout} s\n{log.read_text()[-4000:] if log else ''}")


def ready_state(data_dir: Path, up: subprocess.Popen, log: Path):
    def ready():
        assert up.poll() is None, f"coedit up exited {up.returncode}:\n{log.read_text()[-4000:]}"
        state = load_state(data_dir)
        return state if state and state.ready else None
    return wait_for(ready, 240, "ready", log)


def log_sizes(data_dir: Path) -> dict[str, int]:
    return {path.name: path.stat().st_size for path in (data_dir / "logs").glob("*.log")}


def settled_log_sizes(data_dir: Path, seconds: float = 2.0, timeout: float = 60) -> dict[str, int]:
    """The logs' sizes once none has grown for `seconds`: the start-up's last lines
    (peers meeting, the web's first reads) come later on a slow machine."""
    deadline = time.monotonic() + timeout
    sizes = log_sizes(data_dir)
    while True:
        time.sleep(seconds)
        if (now := log_sizes(data_dir)) == sizes:
            return sizes
        assert time.monotonic() < deadline, f"the logs never stopped growing: {now}"
        sizes = now


def ctrl_c(up: subprocess.Popen, log: Path) -> int:
    assert up.poll() is None, f"coedit up exited {up.returncode} by itself:\n{log.read_text()[-4000:]}"
    os.killpg(up.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    return up.wait(120)


def document(url: str) -> dict:
    return httpx.get(f"{url}/api/document", timeout=10).json()


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found


@pytest.fixture(scope="module")
def observed() -> Observed:
    # Not under pytest's basetemp: a pytest starting meanwhile (another engineer's, on
    # this shared machine) chmods it 0700, and PostgreSQL runs as another user here.
    root = Path(tempfile.mkdtemp(prefix="coedit-up-test-"))
    try:
        return run_life_cycle(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_life_cycle(root: Path) -> Observed:
    seen = Observed(data_dir=root / "session")
    log = root / "first.log"
    up = start_up(seen.data_dir, log, "--agents", "3", "--budget", str(BUDGET))
    try:
        state = ready_state(seen.data_dir, up, log)
        seen.state = state.model_dump()
        text_a = state.component("text-a").url
        agent_pid = wait_for(lambda: load_state(seen.data_dir).component("agent-1").pid, 60, "agent-1 started", log)
        own = environment(agent_pid)["COEDIT_AUTH_TOKEN"]
        seen.forged = forged_writes(state, own)
        secrets = (state.auth_token, load_session(seen.data_dir).mcp_token, own)
        seen.argv_with_a_secret = [argv for secret in secrets for argv in processes_mentioning(secret)]
        seen.version_while_running = wait_for(
            lambda: document(text_a)["version"] >= 2 and document(text_a)["version"], 180,
            "two versions", log)
        seen.person = person_types(state, text_a, log)

        chat = state.component("chat")
        os.killpg(chat.pid, signal.SIGKILL)
        restarted = wait_for(lambda: (c := load_state(seen.data_dir).component("chat")).pid
                             not in (None, chat.pid) and c, 60, "chat restarted", log)
        wait_for(lambda: httpx.get(f"{chat.url}/readyz", timeout=5).status_code == 200
                 if _answers(chat.url) else False, 60, "chat ready again", log)
        seen.chat_pids = (chat.pid, restarted.pid)
        # Every process of the run, including ones restarted since the first snapshot.
        all_pids = {c.pid for c in [*state.components, *load_state(seen.data_dir).components] if c.pid}

        seen.mcp_agent = asyncio.run(connect_as_printed(log))
        seen.agents_api = httpx.get(f"{state.api_url}/api/agents", timeout=10).json()
        analytics = httpx.get(f"{state.component('analytics').url}/api/agents", timeout=10).json()
        seen.analytics_agents = {agent["agent_id"] for agent in analytics["agents"]}
        seen.status_running = json.loads(coedit("status", "--json", "--data-dir", str(seen.data_dir)).stdout)
        out = root / "running.json"
        coedit("export", "--format", "json", "--data-dir", str(seen.data_dir), "-o", str(out))
        seen.export_running = json.loads(out.read_text())
        seen.export_markdown = coedit("export", "--format", "md", "--data-dir", str(seen.data_dir)).stdout
    finally:
        seen.exit_code = ctrl_c(up, log)
    seen.survivors = [str(pid) for pid in all_pids if group_alive(pid)]
    seen.survivors += processes_mentioning(str(seen.data_dir))

    seen.status_stopped = json.loads(coedit("status", "--json", "--data-dir", str(seen.data_dir)).stdout)
    seen.export_stopped = json.loads(
        coedit("export", "--format", "json", "--data-dir", str(seen.data_dir)).stdout)

    log = root / "second.log"
    up = start_up(seen.data_dir, log, "--agents", "0", "--budget", "5", "--max-versions", "2")
    try:
        # another terminal asks while it starts: whichever gets the data directory first,
        # neither disturbs the other
        seen.status_while_starting = subprocess.run(
            [sys.executable, "-m", "coedit", "status", "--json", "--data-dir", str(seen.data_dir)],
            capture_output=True, text=True, timeout=300)
        state = ready_state(seen.data_dir, up, log)
        pids = {c.pid for c in state.components if c.pid}
        text_b = state.component("text-b").url
        seen.resumed = {
            "version": document(text_b)["version"],
            "budget": httpx.get(f"{text_b}/api/budget", timeout=10).json(),
            # from the node the exports read (each node numbers versions in the order it
            # integrated them: concurrent first edits make another node's version 1 differ)
            "version_1": httpx.get(f"{state.component('text-a').url}/api/document/versions/1",
                                   timeout=10).json()["text"],
            "token": state.auth_token,
        }
        # the document already has 2 versions (and perhaps a spent budget): `up` completes
        # the session and tells the chat
        chat_url = state.component("chat").url
        seen.resumed["completion"] = wait_for(
            lambda: httpx.get(f"{chat_url}/api/session", timeout=10).json()["completion"], 60,
            "the chat told the session is complete", log)
        seen.resumed["web_session"] = wait_for(
            lambda: (answer := httpx.get(f"{state.web_url}/api/session", timeout=10).json())["state"] == "completed"
            and answer, 60, "the web showing the session complete", log)
    finally:
        if up.poll() is None:  # the terminal is closed: SIGHUP to `coedit up` alone
            os.kill(up.pid, signal.SIGHUP)
        seen.hangup_exit_code = up.wait(120)
        seen.second_log = log.read_text()
    seen.hangup_survivors = [str(pid) for pid in pids if group_alive(pid)]
    seen.hangup_survivors += processes_mentioning(str(seen.data_dir))

    # a third start, first time after the hang-up, stopped as `kill` (or a service
    # manager) stops it: SIGTERM to `coedit up` alone
    log = root / "third.log"
    up = start_up(seen.data_dir, log, "--agents", "0")
    try:
        pids = {c.pid for c in ready_state(seen.data_dir, up, log).components if c.pid}
        # idle: the web polls the nodes, peers pull each other, probes run; nothing else
        before = settled_log_sizes(seen.data_dir)
        time.sleep(IDLE_SECONDS)
        seen.idle_log_bytes = {name: size - before.get(name, 0) for name, size in log_sizes(seen.data_dir).items()}
    finally:
        if up.poll() is None:
            os.kill(up.pid, signal.SIGTERM)
        seen.terminate_exit_code = up.wait(120)
        seen.third_log = log.read_text()
    seen.terminate_survivors = [str(pid) for pid in pids if group_alive(pid)]
    seen.terminate_survivors += processes_mentioning(str(seen.data_dir))
    return seen


def person_types(state, text_url: str, log: Path) -> dict:
    """A person signed in with the session's token types through the web's Yjs relay
    (the npm y-websocket client) while the agents write and spend tokens."""
    install()
    spent = wait_for(lambda: httpx.get(f"{text_url}/api/budget", timeout=10).json()["spent"], 120,
                     "the agents spending tokens", log)
    person = YClient(state.web_url, "Ada", state.auth_token)
    try:
        person.wait_synced(timeout=30)
        person.call("insert", index=0, text="[Ada was here] ")
        text = wait_for(lambda: (t := document(text_url)["text"]).startswith("[Ada was here] ") and t, 30,
                        "the person's change on text-a", log)
        return {"spent_before": spent, "text": text, "events": list(person.events)}  # before it quits
    finally:
        person.close()


def environment(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(entry.partition("=")[::2] for entry in entries if entry)


def forged_writes(state, token: str) -> dict:
    """What agent-1's own token gets writing as agent-2 (an edit, a chat message, an
    event), and whether it is the session's."""
    headers = {"Authorization": f"Bearer {token}"}
    writes = {
        "text-a": ("/api/edits", {"edit_id": "forged-1", "agent_id": "agent-2",
                                  "op": {"type": "append", "text": " Forged."}}),
        "chat": ("/api/messages", {"type": "edit_comment", "agent_id": "agent-2", "text": "forged"}),
        "analytics": ("/api/events", {"event_id": "forged-1", "type": "agent_started", "agent_id": "agent-2"}),
    }
    answers = {name: httpx.post(state.component(name).url + path, json=body, headers=headers, timeout=10)
               for name, (path, body) in writes.items()}
    return {"session_token": token == state.auth_token,
            **{name: (answer.status_code, answer.json().get("error")) for name, answer in answers.items()}}


async def connect_as_printed(log: Path) -> dict:
    """Connect the way the printed `claude mcp add` line says, with the MCP SDK's client."""
    url, token = CLAUDE_MCP_ADD.search(log.read_text()).groups()
    async with connect(url, token) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        document = (await client.call_tool("read_document", {})).structured_content
    return {"tools": tools, "version": document["version"]}


def _answers(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=5)
        return True
    except httpx.HTTPError:
        return False


def test_no_process_it_starts_shows_a_secret_in_ps(observed):
    assert observed.argv_with_a_secret == []


def test_an_agent_writes_only_as_itself(observed):
    assert observed.forged == {"session_token": False,
                               **{name: (403, "agent_mismatch") for name in ("text-a", "chat", "analytics")}}
    # while their own tokens write their edits, messages and events
    assert observed.analytics_agents and observed.analytics_agents <= {"agent-1", "agent-2", "agent-3"}


def test_up_starts_every_component(observed):
    names = {c["name"] for c in observed.state["components"]}
    assert SERVICES | {"agent-1", "agent-2", "agent-3"} <= names
    assert {"pg-a", "pg-b", "pg-c", "pg-analytics", "redis"} <= names
    assert all(c["pid"] for c in observed.state["components"] if c["kind"] != "agent")


def test_an_outside_agent_connects_with_the_printed_command(observed):
    assert {"read_document", "announce_intent", "submit_edit"} <= observed.mcp_agent["tools"]
    assert observed.mcp_agent["version"] >= 0


def test_a_person_types_beside_the_agents(observed):
    assert observed.person["spent_before"] > 0  # the budget ledger is in the document
    assert observed.person["text"].startswith("[Ada was here] ")
    assert not [e for e in observed.person["events"] if e.get("event") == "close"], observed.person["events"]


def test_agents_write_the_document(observed):
    assert observed.version_while_running >= 2


def test_a_crashed_component_is_restarted(observed):
    before, after = observed.chat_pids
    assert after != before


def test_the_runner_reports_its_agents(observed):
    agents = {a["agent_id"]: a["state"] for a in observed.agents_api["agents"]}
    assert set(agents) == {"agent-1", "agent-2", "agent-3"}
    assert set(agents.values()) <= {"running", "finished"}


def test_status_of_a_running_session(observed):
    status = observed.status_running
    by_name = {c["name"]: c for c in status["components"]}
    assert all(by_name[name]["healthy"] and by_name[name]["url"] for name in SERVICES)
    assert {"agent-1", "agent-2", "agent-3"} <= set(by_name)
    assert status["document_version"] >= observed.version_while_running
    assert status["budget"]["limit"] == BUDGET and status["budget"]["spent"] > 0


def test_export_of_a_running_session_has_every_version(observed):
    exported = observed.export_running
    versions = exported["versions"]
    assert len(versions) == exported["document"]["version"] + 1
    assert versions[0] == {"version": 0, "edit": None, "text": SEED_TEXT}
    assert versions[-1]["text"] == exported["document"]["text"]
    assert all(v["edit"]["agent_id"].startswith("agent-") or v["edit"]["agent_id"] == "Ada" for v in versions[1:])
    assert "auth_token" not in exported["session"]
    markdown = observed.export_markdown
    assert "## History" in markdown and "### Version 1\n" in markdown


def test_ctrl_c_stops_everything_and_leaves_nothing_behind(observed):
    assert observed.exit_code == 0
    assert observed.survivors == []


def test_status_of_a_stopped_session(observed):
    status = observed.status_stopped
    assert not status["running"]
    assert not any(c["healthy"] for c in status["components"])
    assert status["document_version"] >= observed.status_running["document_version"]
    assert status["budget"]["limit"] == BUDGET


def test_export_of_a_stopped_session_keeps_the_history(observed):
    running, stopped = observed.export_running["versions"], observed.export_stopped["versions"]
    assert stopped[: len(running)] == running


def test_second_run_resumes_with_history_and_token(observed):
    resumed = observed.resumed
    assert resumed["version"] >= observed.status_stopped["document_version"]
    assert resumed["version_1"] == observed.export_running["versions"][1]["text"]
    assert resumed["budget"]["limit"] == BUDGET  # the flag cannot change a session's genesis
    assert "--budget ignored" in observed.second_log
    assert resumed["token"] == observed.state["auth_token"]
    assert resumed["completion"]["reason"] in ("MaxVersions", "BudgetExhausted")  # the first run may spend it all
    assert resumed["web_session"]["completion"] == resumed["completion"]["message"]


def test_status_while_up_starts_disturbs_neither(observed):
    answer = observed.status_while_starting
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["document_version"] >= 2
    assert "did not start" not in observed.second_log


def test_a_closed_terminal_stops_everything_it_started(observed):
    assert observed.hangup_exit_code == 0, observed.second_log[-3000:]
    assert observed.hangup_survivors == []


def test_sigterm_stops_everything_it_started(observed):
    assert observed.terminate_exit_code == 0, observed.third_log[-3000:]
    assert observed.terminate_survivors == []
    assert "did not start" not in observed.third_log


def test_an_idle_session_writes_next_to_nothing_to_its_logs(observed):
    """Routine reads log at debug: at the default level an idle session's logs stay
    put (under 2 KiB in all in IDLE_SECONDS; the issue saw 1.5 MB in 21 minutes from
    one node), and rotation bounds them besides (tests/up/test_units.py)."""
    grown = observed.idle_log_bytes
    assert grown and sum(grown.values()) < 2048, grown
    report("up/idle_logs", seconds=IDLE_SECONDS, bytes=sum(grown.values()),
           bytes_per_day=sum(grown.values()) * 86_400 // IDLE_SECONDS)
