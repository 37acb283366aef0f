"""Every `coedit` command: a one-line summary, its settings (plain data: each field
a flag and a `COEDIT_*` variable) and the function that runs it. A runner imports
its service only when its command is chosen, so `coedit --help` loads no service."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic_settings import BaseSettings

from coedit.agent.settings import AgentSettings
from coedit.analytics.settings import AnalyticsSettings
from coedit.chat.settings import ChatSettings
from coedit.fake_llm.settings import FakeLLMSettings
from coedit.text_node.settings import TextNodeSettings
from coedit.up.settings import ExportSettings, StatusSettings, UpSettings
from coedit.web.settings import WebSettings
from coedit_operator.settings import OperatorCommand


@dataclass(frozen=True)
class Command:
    summary: str
    settings: type[BaseSettings]
    run: Callable[[Any], None]


def run_text_node(settings: TextNodeSettings) -> None:
    from coedit.text_node.app import run

    run(settings)


def run_analytics(settings: AnalyticsSettings) -> None:
    from coedit.analytics.app import run

    run(settings)


def run_chat(settings: ChatSettings) -> None:
    from coedit.chat.app import run

    run(settings)


def run_agent(settings: AgentSettings) -> None:
    from coedit.agent.runner import run

    run(settings)


def run_fake_llm(settings: FakeLLMSettings) -> None:
    from coedit.fake_llm.app import run

    run(settings)


def run_operator(command: OperatorCommand) -> None:
    if command.render is not None:
        from coedit_operator.render import main

        main(command.render)
    else:
        from coedit_operator.main import run

        run(command)


def run_up(settings: UpSettings) -> None:
    from coedit.up.supervisor import main

    main(settings)


def run_status(settings: StatusSettings) -> None:
    from coedit.up.status import collect, render

    report = collect(settings.data_dir)
    print(json.dumps(report, ensure_ascii=False, indent=2) if settings.as_json else render(report))


def run_export(settings: ExportSettings) -> None:
    from coedit.up.export import export

    export(settings)


def run_web(settings: WebSettings) -> None:
    from coedit.web.app import run

    run(settings)


COMMANDS: dict[str, Command] = {
    "text_node": Command("a replica of the session's document", TextNodeSettings, run_text_node),
    "analytics": Command("the agents' events, summaries and time series", AnalyticsSettings, run_analytics),
    "chat": Command("the session's typed agent chat, on Redis", ChatSettings, run_chat),
    "agent": Command("one AI agent, writing until the budget is spent", AgentSettings, run_agent),
    "fake_llm": Command("a deterministic OpenAI-compatible model for tests and demos", FakeLLMSettings,
                        run_fake_llm),
    "operator": Command("the CoEditSession operator, or `render` a session's children", OperatorCommand,
                        run_operator),
    "up": Command("run a whole session on this machine", UpSettings, run_up),
    "status": Command("show a local session's components, version and budget", StatusSettings, run_status),
    "export": Command("write a local session's document and version history", ExportSettings, run_export),
    "web": Command("the web UI: document, chat and analytics, live", WebSettings, run_web),
}
"""The commands in the order `coedit --help` lists them, by field name (`text_node`
is `coedit text-node`)."""


def run(settings: BaseSettings) -> None:
    """Run the command whose settings these are."""
    next(c for c in COMMANDS.values() if type(settings) is c.settings).run(settings)
