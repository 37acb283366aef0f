"""The flags of `coedit up`, `coedit status` and `coedit export` (plain data:
`coedit.commands` runs them)."""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, FilePath, model_validator
from pydantic_settings import BaseSettings, CliImplicitFlag, SettingsConfigDict

_config = SettingsConfigDict(env_prefix="COEDIT_", cli_kebab_case=True, extra="ignore")


class UpSettings(BaseSettings):
    """Run a whole session on this machine: three text nodes (each on its own
    PostgreSQL), chat on Redis, analytics, the web UI, agents and (without
    OPENAI_API_KEY) the fake model. Ctrl-C stops it; the data directory keeps it."""

    model_config = _config

    agents: int = Field(3, ge=0, le=100, description="how many agents write")
    budget: int = Field(50_000, ge=0, description="the session's token budget (first run only)")
    topic: str | None = Field(
        None, description="what the document is about (unset: the seed demo's, a children's story about robots)"
    )
    initial_text: str | None = Field(
        None, description="the document at version 0 (first run only; unset: the seed demo's)"
    )
    initial_text_file: FilePath | None = Field(None, description="read the initial text from this file")
    language: Literal["auto", "ru", "en"] = Field("auto", description="the agents' language")
    port: int = Field(8000, ge=1, le=65535, description="the web UI's port; the others follow it")
    data_dir: Path = Field(Path(".coedit"), description="databases, logs and the session's state")
    seed: int = Field(1, description="the fake model's seed")
    model: str | None = Field(None, description="the model (unset: gpt-4o-mini, or the fake one)")
    fake_latency_ms: int = Field(
        300, ge=0, description="delay of each fake model answer, so a session can be watched"
    )
    session_name: str = Field("local", min_length=1, description="the session's name (first run only)")
    access_log: CliImplicitFlag[bool] = Field(
        False, description="show every HTTP request in the log (otherwise only server errors)"
    )

    @model_validator(mode="after")
    def _one_initial_text(self) -> "UpSettings":
        if self.initial_text is not None and self.initial_text_file is not None:
            raise ValueError("give --initial-text or --initial-text-file, not both")
        return self


class StatusSettings(BaseSettings):
    """Show a local session: components and their health, document version, budget."""

    model_config = _config

    as_json: CliImplicitFlag[bool] = Field(
        False, validation_alias=AliasChoices("json"), description="print JSON"
    )
    data_dir: Path = Field(Path(".coedit"), description="the session's data directory")


class ExportSettings(BaseSettings):
    """Write a local session's document and its whole version history."""

    model_config = _config

    format: Literal["md", "json"] = Field("md", description="Markdown or JSON")
    data_dir: Path = Field(Path(".coedit"), description="the session's data directory")
    output: Path | None = Field(
        None, validation_alias=AliasChoices("o", "output"), description="file to write (unset: stdout)"
    )
