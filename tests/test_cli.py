"""`coedit`'s command line: a line of help per command, --version, bad values as
one line and exit status 2, flags that take no word, help in plain words."""

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


def coedit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coedit", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


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
