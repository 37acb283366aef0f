"""`coedit <command>`: one entry point for every service. Each command's flags are
the fields of its settings model, and each flag is also an environment variable."""

import sys

from pydantic_settings import BaseSettings, CliApp, CliSubCommand

from coedit.agent.settings import AgentSettings
from coedit.analytics.settings import AnalyticsSettings
from coedit.chat.settings import ChatSettings
from coedit.fake_llm.settings import FakeLLMSettings
from coedit.mcp.settings import McpSettings
from coedit.text_node.settings import TextNodeSettings
from coedit.up.config import ExportSettings, StatusSettings, UpSettings
from coedit.web.settings import WebSettings
from coedit_operator.settings import OperatorCommand


class Coedit(BaseSettings, cli_prog_name="coedit", cli_kebab_case=True):
    """coedit: several AI agents write one document together."""

    text_node: CliSubCommand[TextNodeSettings]
    analytics: CliSubCommand[AnalyticsSettings]
    chat: CliSubCommand[ChatSettings]
    agent: CliSubCommand[AgentSettings]
    fake_llm: CliSubCommand[FakeLLMSettings]
    operator: CliSubCommand[OperatorCommand]
    up: CliSubCommand[UpSettings]
    status: CliSubCommand[StatusSettings]
    export: CliSubCommand[ExportSettings]
    web: CliSubCommand[WebSettings]
    mcp: CliSubCommand[McpSettings]

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)


def main(argv: list[str] | None = None) -> None:
    CliApp.run(Coedit, cli_args=sys.argv[1:] if argv is None else argv)
