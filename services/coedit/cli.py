"""`coedit <command>`: one entry point for every service (pydantic-settings' CliApp
over `coedit.commands`). Each command's flags are the fields of its settings, and
each flag is also an environment variable. A bad flag or value is one line on
stderr and exit status 2 (argparse's status for a usage error), never a traceback."""

import argparse
import sys
import typing
from importlib.metadata import version

from pydantic import Field, SecretStr, ValidationError, create_model
from pydantic_settings import (
    CLI_SUPPRESS, BaseSettings, CliApp, CliSettingsSource, CliSubCommand, SettingsError, get_subcommand,
)

from coedit.commands import COMMANDS, run
from coedit.common.settings import flag

USAGE_ERROR = 2


Coedit = create_model(
    "Coedit",
    __base__=BaseSettings,
    __doc__="coedit: several AI agents write one document together.",
    **{name: (CliSubCommand[command.settings], Field(description=command.summary))
       for name, command in COMMANDS.items()},
)


class Parser(argparse.ArgumentParser):
    """argparse with every error on one line, pointing to --help, instead of the usage block."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class SecretFlag(argparse.Action):
    """A secret's flag (a `Secret` field: hidden from --help) is refused: a flag is
    in every local user's `ps`. The message names where the secret goes instead."""

    def __call__(self, parser, namespace, values, option_string=None):
        name = self.dest.rpartition(".")[2]
        parser.error(f"{option_string}: a secret is never a flag (anyone on this machine sees flags in `ps`): "
                     f"set COEDIT_{name.upper()} or --{flag(name)}-file PATH")


def _add_argument(parser, *names: str, **kwargs):
    if kwargs.get("help") == CLI_SUPPRESS and set(names) & SECRET_FLAGS:
        return parser.add_argument(*names, dest=kwargs["dest"], nargs="?", default=CLI_SUPPRESS,
                                   action=SecretFlag, help=CLI_SUPPRESS)
    return parser.add_argument(*names, **kwargs)


SECRET_FLAGS = {f"--{flag(name)}" for command in COMMANDS.values()
                for name, field in command.settings.model_fields.items() if CLI_SUPPRESS in field.metadata}


def parser() -> Parser:
    root = Parser(prog="coedit", description=Coedit.__doc__, allow_abbrev=False)
    root.add_argument("--version", action="version", version=f"coedit {version('coedit')}")
    return root


def parse(argv: list[str]) -> BaseSettings:
    """The chosen command's settings; a bad flag or value exits with status 2."""
    source = CliSettingsSource(
        Coedit,
        root_parser=parser(),
        cli_kebab_case=True,
        cli_implicit_flags=True,  # --flag / --no-flag: a boolean never takes the next word
        cli_hide_none_type=True,  # `--model str`, not `--model {str,null}`
        cli_parse_none_str="unset",  # `(default: unset)`; `--model unset` overrides a COEDIT_MODEL
        cli_enforce_required=True,  # `render -f` is required in its usage line too
        formatter_class=argparse.HelpFormatter,  # reflows each command's docstring
        add_argument_method=_add_argument,
    )
    try:
        chosen = get_subcommand(CliApp.run(Coedit, cli_args=argv, cli_settings_source=source),
                                is_required=False)
    except ValidationError as error:
        _usage_error(*(_one_line(e) for e in error.errors(include_url=False)))
    except SettingsError as error:
        _usage_error(f"coedit: error: {error}")
    if chosen is None:
        _usage_error("coedit: error: choose a command (see coedit --help)")
    return chosen


def main(argv: list[str] | None = None) -> None:
    run(parse(sys.argv[1:] if argv is None else argv))


def _usage_error(*lines: str) -> typing.NoReturn:
    print(*lines, sep="\n", file=sys.stderr)
    sys.exit(USAGE_ERROR)


def _one_line(error: dict) -> str:
    """`coedit up: error: --agents: Input should be a valid integer (got 'abc')`."""
    model, words, rest = Coedit, ["coedit"], list(error["loc"])
    while rest and (sub := _subcommand(model, rest[0])) is not None:
        model = sub
        words.append(str(rest.pop(0)).replace("_", "-"))
    flag = str(rest[0]).replace("_", "-") if rest else ""
    where = f"{'-' if len(flag) == 1 else '--'}{flag}: " if flag else ""
    message = error["msg"].removeprefix("Value error, ")
    shown = rest and isinstance(error.get("input"), str) and not _secret(model, rest[0])
    given = f" (got {error['input']!r})" if shown else ""
    return f"{' '.join(words)}: error: {where}{message}{given}"


def _secret(model: type[BaseSettings], name: object) -> bool:
    """A token or key is never echoed back, even when it is wrong."""
    field = model.model_fields.get(str(name))
    return field is not None and SecretStr in (field.annotation, *typing.get_args(field.annotation))


def _subcommand(model: type[BaseSettings], name: object) -> type[BaseSettings] | None:
    """The settings of `model`'s subcommand `name`, if it is one."""
    field = model.model_fields.get(str(name))
    if field is None:
        return None
    for candidate in typing.get_args(field.annotation) or (field.annotation,):
        if isinstance(candidate, type) and issubclass(candidate, BaseSettings):
            return candidate
    return None
