"""`coedit`'s command line: a line of help per command, --version, bad values as
one line and exit status 2, flags that take no word, help in plain words."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from coedit.cli import _one_line, parse
from coedit.commands import COMMANDS
from coedit_operator.settings import RenderSettings

ROOT = Path(__file__).resolve().parents[1]
SESSION = ROOT / "manifests" / "examples" / "minimal.yaml"
COMMAND_NAMES = [name.replace("_", "-") for name in COMMANDS]


def coedit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coedit", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=None if env is None else {**os.environ, **env})


def help_of(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exit:
        parse([*args, "--help"])
    assert exit.value.code == 0
    return capsys.readouterr().out


def test_help_gives_every_command_a_line(capsys):
    text = help_of(capsys)
    for name, command in COMMANDS.items():
        assert re.search(rf"^\s+{name.replace('_', '-')}\s+{re.escape(command.summary[:30])}", text, re.M), name


def test_version():
    result = coedit("--version")
    assert result.returncode == 0 and re.fullmatch(r"coedit \d+\.\d+\.\d+\S*\n", result.stdout)


@pytest.mark.parametrize("args, flag", [
    (["up", "--agents", "abc"], "--agents"),
    (["export", "--format", "pdf"], "--format"),
    (["text-node", "--port", "99999"], "--port"),
    (["operator", "render", "-f", "no-such-session.yaml"], "-f"),
])
def test_a_bad_value_is_one_line_and_exit_status_2(args, flag):
    result = coedit(*args)
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"coedit {args[0]}") and f"{flag}: " in lines[0], lines


def test_a_refused_token_is_not_echoed():
    refused = {"loc": ("text_node", "auth_token"), "msg": "String should have at least 16 characters",
               "input": "s3cret"}
    assert _one_line(refused) == "coedit text-node: error: --auth-token: String should have at least 16 characters"


SERVICES = ["text-node", "chat", "analytics", "web", "mcp", "fake-llm"]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_without_a_token_refuses_to_start_naming_both_fixes(service):
    result = coedit(service, env={"COEDIT_AUTH_TOKEN": ""})  # empty is unset
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"coedit {service}: error: no token: set COEDIT_AUTH_TOKEN or --auth-token-file PATH, "
        "or pass --insecure-no-auth to let anyone who reaches the port write"]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_takes_its_token_from_a_file_or_is_told_to_go_without(service, tmp_path):
    (tmp_path / "token").write_text("from-a-file\n")
    from_file = parse([service, "--auth-token-file", str(tmp_path / "token")])
    assert from_file.auth_token.get_secret_value() == "from-a-file"
    assert parse([service, "--insecure-no-auth"]).auth_token is None


@pytest.mark.parametrize("args, variable", [
    (["text-node", "--auth-token", "s3cret-token"], "COEDIT_AUTH_TOKEN"),
    (["web", "--auth-token=s3cret-token"], "COEDIT_AUTH_TOKEN"),
    (["agent", "--auth-token", "s3cret-token"], "COEDIT_AUTH_TOKEN"),
    (["agent", "--llm-api-key", "s3cret-token"], "COEDIT_LLM_API_KEY"),
    (["mcp", "--mcp-tokens", "claude=s3cret-token"], "COEDIT_MCP_TOKENS"),
    (["analytics", "--agent-tokens", "ada=s3cret-token-0123"], "COEDIT_AGENT_TOKENS"),
])
def test_a_secret_is_never_a_flag(args, variable):
    result = coedit(*args)
    assert result.returncode == 2 and "s3cret" not in result.stderr + result.stdout
    flag = args[1].partition("=")[0]
    assert result.stderr.startswith(f"coedit {args[0]}: error: {flag}: a secret is never a flag")
    assert f"set {variable} or {flag}-file PATH" in result.stderr
    assert flag not in coedit(args[0], "--help").stdout.split()  # not offered either


def test_an_agent_reads_its_keys_from_files(tmp_path):
    (tmp_path / "key").write_text("sk-from-file\n")
    (tmp_path / "token").write_text("session-token\n")
    agent = parse(["agent", "--llm-api-key-file", str(tmp_path / "key"), "--auth-token-file", str(tmp_path / "token")])
    assert (agent.llm_api_key.get_secret_value(), agent.auth_token.get_secret_value()) == ("sk-from-file", "session-token")


@pytest.mark.parametrize("args", [[], ["bogus"], ["up", "--agents"], ["status", "--no-such-flag"]])
def test_a_bad_command_line_is_one_line_too(capsys, args):
    with pytest.raises(SystemExit) as exit:
        parse(args)
    assert exit.value.code == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_a_boolean_flag_does_not_take_the_next_word():
    command = parse(["operator", "--standalone", "render", "-f", str(SESSION)])
    assert command.standalone is True and isinstance(command.render, RenderSettings)
    assert parse(["status", "--json"]).as_json is True
    assert parse(["up", "--no-access-log"]).access_log is False


@pytest.mark.parametrize("args", [[name] for name in COMMAND_NAMES] + [["operator", "render"]])
def test_help_shows_types_and_defaults_in_words(capsys, args):
    text = help_of(capsys, *args)
    assert re.findall(r"\{[^}]*null[^}]*\}|default factory|<lambda>|\bnull\b", text) == []
    assert not re.search("[а-яё]", text, re.I), "a default in Russian in the English help"
