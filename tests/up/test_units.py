"""The runner's pure parts: log summaries, ports, back-off, Markdown, the session
config kept across runs."""

import json
import logging

import pytest

from coedit.common.agent_tokens import parse_tokens
from coedit.up.components import PORT_OFFSETS, derive_ports, plan, session_limits
from coedit.up.console import edit_line, summarise
from coedit.up.local_llm import server_args
from coedit.up.export import fenced
from coedit.up.session_file import SEED_TEXT, load_session, resolve_session
from coedit.up.settings import UpSettings
from coedit.up.supervisor import restart_delay


def test_json_lines_are_summarised_without_the_noise():
    line = json.dumps({"event": "intent_cancelled", "cycle": 2, "reason": "the budget is spent",
                       "agent_id": "agent-1", "level": "info", "timestamp": "t", "service": "agent"})
    assert summarise(line) == ("info", 'intent_cancelled cycle=2 reason="the budget is spent"')


def test_access_lines_are_hidden_unless_asked_or_failing():
    ok = json.dumps({"event": "request", "method": "GET", "path": "/api/document", "status": 200,
                     "ms": 1.5, "level": "info"})
    failed = json.dumps({"event": "request", "method": "POST", "path": "/api/edits", "status": 500,
                         "ms": 3, "level": "info"})
    assert summarise(ok) is None
    assert summarise(ok, access_log=True) == ("info", "GET /api/document 200 1.5 ms")
    assert summarise(failed) == ("info", "POST /api/edits 500 3 ms")
    assert summarise(json.dumps({"event": "Application startup complete."})) is None


def test_plain_lines_pass_through():
    assert summarise("Traceback (most recent call last):") == (
        "info", "Traceback (most recent call last):")


def test_a_plain_uvicorn_access_line_is_routine_unless_it_failed():
    """The local model's server (llama-cpp-python) logs each call this way."""
    ok = 'INFO:     127.0.0.1:55530 - "POST /v1/chat/completions HTTP/1.1" 200 OK'
    failed = 'INFO:     127.0.0.1:55530 - "POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error'
    assert summarise(ok) is None
    assert summarise(ok, access_log=True) == ("info", ok)
    assert summarise(failed) == ("info", failed)


def test_the_local_model_server_does_not_print_its_internals():
    assert server_args("/m.gguf", 8080)[-2:] == ["--verbose", "False"]


def test_edit_line_names_the_agent_the_operation_and_why():
    edit = {"version": 7, "agent_id": "agent-2", "summary": "убрать заглушку",
            "op": {"type": "replace", "anchor": "Документ начинается здесь.", "text": "x"}}
    assert edit_line(edit) == "v7 agent-2 replace «Документ начинается здесь.» убрать заглушку"


def test_ports_follow_the_web_port_unless_taken():
    taken = {8001, 8010}
    ports = derive_ports(8000, is_free=lambda port: port not in taken)
    assert ports["text-b"] == 8002 and ports["analytics"] == 8020 and ports["fake-llm"] == 8090
    assert ports["text-a"] not in taken and ports["chat"] not in taken
    assert set(ports) == set(PORT_OFFSETS)


def test_the_plan_passes_every_secret_by_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = UpSettings(data_dir=tmp_path, agents=2)
    session, _ = resolve_session(settings)
    ports = derive_ports(8000, is_free=lambda port: True)
    components = plan(settings, session, ports, {name: f"postgresql://{name}" for name in
                                                 ("pg-a", "pg-b", "pg-c", "pg-analytics", "redis")})
    by_name = {c.name: c for c in components}
    own = {name: by_name[name].env["COEDIT_AUTH_TOKEN"] for name in ("agent-1", "agent-2")}
    model_key = by_name["fake-llm"].env["COEDIT_AUTH_TOKEN"]
    for component in components:
        argv = " ".join(component.argv)
        for secret in (session.auth_token, session.mcp_token, model_key, *own.values()):
            assert secret not in argv, component.name
    for name in ("text-a", "text-b", "text-c", "chat", "analytics", "mcp", "web"):
        assert by_name[name].env["COEDIT_AUTH_TOKEN"] == session.auth_token, name
    assert by_name["mcp"].env["COEDIT_MCP_TOKENS"] == f"outside={session.mcp_token}"
    # each agent holds only its own token, which the services it writes to list under its name
    assert len({session.auth_token, model_key, *own.values()}) == 4
    for name in ("text-a", "text-b", "text-c", "chat", "analytics"):
        assert parse_tokens(by_name[name].env["COEDIT_AGENT_TOKENS"]) == own, name
    for name in ("mcp", "web", "fake-llm"):
        assert "COEDIT_AGENT_TOKENS" not in by_name[name].env, name
    for agent in own:
        assert session.auth_token not in by_name[agent].env.values(), agent
        assert by_name[agent].env["COEDIT_LLM_API_KEY"] == model_key  # the fake model's own key
    # a new run, new agents' tokens (none is kept in the data directory)
    again = {c.name: c for c in plan(settings, session, ports, {name: "x" for name in
                                                                ("pg-a", "pg-b", "pg-c", "pg-analytics", "redis")})}
    assert again["agent-1"].env["COEDIT_AUTH_TOKEN"] != own["agent-1"]


def test_without_agents_the_services_take_the_session_token_only(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = UpSettings(data_dir=tmp_path, agents=0)
    session, _ = resolve_session(settings)
    components = plan(settings, session, derive_ports(8000, is_free=lambda port: True),
                      {name: "x" for name in ("pg-a", "pg-b", "pg-c", "pg-analytics", "redis")})
    assert not any("COEDIT_AGENT_TOKENS" in c.env for c in components)
    assert not any(c.kind == "agent" for c in components)


def test_restart_back_off_doubles_and_is_capped():
    assert [restart_delay(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]


def test_fence_outgrows_backticks_in_the_text():
    assert fenced("plain") == "```text\nplain\n```"
    assert fenced("a ```` b").startswith("`````text\n")


def test_first_run_creates_the_session_with_the_seed_text(tmp_path):
    session, warnings = resolve_session(UpSettings(data_dir=tmp_path))
    assert session.initial_text == SEED_TEXT and warnings == []
    assert load_session(tmp_path) == session
    assert (tmp_path / "session.json").stat().st_mode & 0o077 == 0  # it holds the token


def test_second_run_keeps_genesis_and_token_but_takes_a_new_topic(tmp_path):
    first, _ = resolve_session(UpSettings(data_dir=tmp_path, budget=1000, initial_text="Начало."))
    second, warnings = resolve_session(
        UpSettings(data_dir=tmp_path, budget=5, initial_text="Другое.", topic="новая тема"))
    assert (second.budget, second.initial_text, second.auth_token) == (
        1000, "Начало.", first.auth_token)
    assert second.topic == "новая тема"
    assert len(warnings) == 2 and "--budget ignored" in " ".join(warnings)


def test_initial_text_from_a_file(tmp_path):
    (tmp_path / "start.txt").write_text("Из файла.", encoding="utf-8")
    session, _ = resolve_session(
        UpSettings(data_dir=tmp_path / "d", initial_text_file=tmp_path / "start.txt"))
    assert session.initial_text == "Из файла."


def test_initial_text_twice_is_refused(tmp_path):
    (tmp_path / "f").write_text("b", encoding="utf-8")
    with pytest.raises(ValueError, match="not both"):
        UpSettings(initial_text="a", initial_text_file=tmp_path / "f")


def test_a_components_log_is_rotated_by_size(tmp_path, monkeypatch):
    from coedit.up import supervisor

    monkeypatch.setattr(supervisor, "LOG_BYTES", 1000)
    log = supervisor.rotating_log(tmp_path / "text-a.log")
    for n in range(500):
        log.emit(logging.makeLogRecord({"msg": f'{{"event": "request", "n": {n}}}'}))
    log.close()
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["text-a.log", *(f"text-a.log.{i}" for i in range(1, supervisor.LOG_BACKUPS + 1))]
    assert all(f.stat().st_size <= 1000 for f in files)
    assert '"n": 499' in (tmp_path / "text-a.log").read_text()


def test_the_data_directory_lock_names_its_holder(tmp_path):
    from coedit.up.state import DataDirLock, is_running

    reader = DataDirLock(tmp_path)
    assert reader.acquire("reader")
    up = DataDirLock(tmp_path)
    assert not up.acquire("up") and up.holder() == "reader"
    assert not is_running(tmp_path) and up.holder() == "reader"  # a reader is no `coedit up`
    reader.release()
    assert up.acquire_within("up", 1) and up.holder() == "up"
    up.release()


def test_a_money_budget_lowers_the_token_limit_to_what_it_buys():
    limits = session_limits(UpSettings(usd=0.03, price_input=0.15, price_output=0.6), 100_000)
    assert (limits.tokens, limits.money_bound) == (50_000, True)  # $0.03 at $0.60 a million
    assert session_limits(UpSettings(usd=1, price_input=0.15, price_output=0.6), 100_000).tokens == 100_000
    assert session_limits(UpSettings(usd=1), 100_000).tokens == 100_000  # no prices: only the token budget
