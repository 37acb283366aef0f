"""What a local session is: the `coedit up` flags, and the part of them that must
stay the same for the life of a data directory (the text nodes' genesis: initial
text and budget; the auth token), kept in `session.json`."""

import json
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, CliImplicitFlag, SettingsConfigDict

from coedit.common.money import tokens_bought
from coedit.common.stopping import DURATION_PATTERN, Limits

# The seed demo's starting text and topic (reference/seed-demo.md, slide 5).
SEED_TEXT = (
    "Документ начинается здесь. В далёком XXIII веке, когда над городами тихо проплывали "
    "орбитальные станции, а по ночам в окнах вместо звёзд мерцали огни ремонтных дронов, детям "
    "всё равно было немного страшно в темноте. Роботы-няни читали им сказки про космос, следили "
    "за кошмарами в снах и аккуратно приглушали свет, но сами тайком задавали друг другу один и "
    "тот же вопрос: что значит быть «хорошим человеком»?"
)
SEED_TOPIC = "научно-фантастический детский рассказ про роботов, которые хотят стать людьми с моралью"
PERSONAS = {
    "ru": ["сюжетник", "стилист", "редактор", "диалогист", "фантаст"],
    "en": ["plotter", "stylist", "editor", "dialogue writer", "world builder"],
}
SESSION_FILE = "session.json"

_config = SettingsConfigDict(env_prefix="COEDIT_", cli_kebab_case=True, extra="ignore")


class UpSettings(BaseSettings):
    """Run a whole session on this machine: three text nodes (each on its own
    PostgreSQL), chat on Redis, analytics, the web UI, agents and (without
    OPENAI_API_KEY) the fake model. Ctrl-C stops it; the data directory keeps it."""

    model_config = _config

    agents: int = Field(3, ge=0, le=100, description="how many agents write")
    budget: int = Field(50_000, ge=0, description="the session's token budget (first run only)")
    usd: float | None = Field(
        None, gt=0, description="a money budget at --price-input/--price-output: the text nodes' token limit "
        "becomes no more than it buys at the dearer price, so it is never passed",
    )
    max_versions: int | None = Field(None, ge=1, description="stop the agents once the document has this many versions")
    max_duration: str | None = Field(
        None, pattern=DURATION_PATTERN, description="stop the agents this long after the session is up (e.g. 10m, 2h)"
    )
    price_input: float = Field(0, ge=0, description="the model's USD per million prompt tokens (0: unknown)")
    price_output: float = Field(0, ge=0, description="the model's USD per million completion tokens (0: unknown)")
    topic: str = Field(SEED_TOPIC, description="what the document is about")
    initial_text: str | None = Field(None, description="the document at version 0 (first run only)")
    initial_text_file: Path | None = Field(None, description="read the initial text from this file")
    language: Literal["auto", "ru", "en"] = Field("auto", description="the agents' language")
    port: int = Field(8000, ge=1, le=65535, description="the web UI's port; the others follow it")
    data_dir: Path = Field(Path(".coedit"), description="databases, logs and the session's state")
    seed: int = Field(1, description="the fake model's seed")
    model: str | None = Field(None, description="the model (default gpt-4o-mini, or the fake one)")
    fake_latency_ms: int = Field(
        300, ge=0, description="delay of each fake model answer, so a session can be watched"
    )
    session_name: str = Field("local", min_length=1, description="the session's name (first run only)")
    access_log: CliImplicitFlag[bool] = Field(
        False, description="show every HTTP request in the log (default: only server errors)"
    )

    @model_validator(mode="after")
    def _one_initial_text(self) -> "UpSettings":
        if self.initial_text is not None and self.initial_text_file is not None:
            raise ValueError("give --initial-text or --initial-text-file, not both")
        return self

    def limits(self, budget: int) -> Limits:
        """The stop conditions, with `budget` (the session's, fixed at its first run)
        lowered to what --usd buys."""
        bought = None if self.usd is None else tokens_bought(self.usd, [self.price_input, self.price_output])
        tokens = budget if bought is None else min(budget, bought)
        return Limits(tokens=tokens, money_bound=tokens < budget, usd=self.usd, max_versions=self.max_versions,
                      max_duration=self.max_duration)

    def chosen_initial_text(self) -> str | None:
        if self.initial_text_file is not None:
            return self.initial_text_file.read_text(encoding="utf-8")
        return self.initial_text

    def cli_cmd(self) -> None:
        from coedit.up.supervisor import main

        main(self)


class StatusSettings(BaseSettings):
    """Show a local session: components and their health, document version, budget."""

    model_config = _config

    as_json: CliImplicitFlag[bool] = Field(
        False, validation_alias=AliasChoices("json"), description="print JSON"
    )
    data_dir: Path = Field(Path(".coedit"), description="the session's data directory")

    def cli_cmd(self) -> None:
        from coedit.up.status import collect, render

        report = collect(self.data_dir)
        print(json.dumps(report, ensure_ascii=False, indent=2) if self.as_json else render(report))


class ExportSettings(BaseSettings):
    """Write a local session's document and its whole version history."""

    model_config = _config

    format: Literal["md", "json"] = Field("md", description="Markdown or JSON")
    data_dir: Path = Field(Path(".coedit"), description="the session's data directory")
    output: Path | None = Field(
        None, validation_alias=AliasChoices("o", "output"), description="file to write (default: stdout)"
    )

    def cli_cmd(self) -> None:
        from coedit.up.export import export

        export(self)


class SessionConfig(BaseModel):
    """Fixed at the first `coedit up` of a data directory."""

    session_name: str
    initial_text: str
    budget: int
    auth_token: str
    topic: str
    language: str


def load_session(data_dir: Path) -> SessionConfig | None:
    path = Path(data_dir) / SESSION_FILE
    return SessionConfig.model_validate_json(path.read_text()) if path.exists() else None


def resolve_session(settings: UpSettings) -> tuple[SessionConfig, list[str]]:
    """The stored session when there is one (genesis fields win over the flags,
    with a warning each), else a new one from the flags. Saves it."""
    stored = load_session(settings.data_dir)
    wanted = {
        "session_name": settings.session_name,
        "initial_text": settings.chosen_initial_text(),
        "budget": settings.budget,
        "topic": settings.topic,
        "language": settings.language,
    }
    warnings = []
    if stored is None:
        session = SessionConfig(
            **{**wanted, "initial_text": wanted["initial_text"] or SEED_TEXT},
            auth_token=secrets.token_urlsafe(24),
        )
    else:
        given = settings.model_fields_set
        flags = {"initial_text": {"initial_text", "initial_text_file"}, "budget": {"budget"},
                 "session_name": {"session_name"}}
        for name, sources in flags.items():
            if given & sources and wanted[name] != getattr(stored, name):
                warnings.append(f"--{name.replace('_', '-')} ignored: {settings.data_dir} keeps "
                                "the first run's value (start a new --data-dir to change it)")
        # The topic and language only steer the agents, so the flags may change them.
        session = stored.model_copy(update={k: wanted[k] for k in ("topic", "language")
                                            if given & {k}})
    save_private(Path(settings.data_dir) / SESSION_FILE, session.model_dump())
    return session, warnings


def save_private(path: Path, data: dict) -> None:
    """Write JSON atomically, readable by the owner only (it holds the token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, ensure_ascii=False, indent=2)
    os.replace(tmp, path)
