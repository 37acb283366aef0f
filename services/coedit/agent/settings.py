import os
from typing import Literal

from pydantic import Field, FilePath, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coedit.common.agent_protocol import Phase
from coedit.common.settings import Secret, secret_from

OPENAI_API_KEY = "$OPENAI_API_KEY"


class AgentSettings(BaseSettings):
    """Run one AI agent until the session's token budget is spent."""

    model_config = SettingsConfigDict(
        env_prefix="COEDIT_", cli_kebab_case=True, cli_implicit_flags=True, extra="ignore"
    )

    agent_id: str = Field("agent-1", pattern=r"^[\w.:@/-]{1,100}$", description="unique in the session")
    persona: str = Field("a careful co-author", description="who the agent is, in its prompts")
    topic: str = Field("", description="what the document is about")
    language: Literal["auto", "ru", "en"] = Field(
        "auto", description="the prompts' language; auto: the document's"
    )
    text_nodes: str = Field(
        "http://127.0.0.1:8001", description="comma-separated text node URLs, tried in turn"
    )
    chat_url: str = Field("http://127.0.0.1:8010", description="the chat service")
    analytics_url: str = Field("http://127.0.0.1:8020", description="the analytics service")
    auth_token: Secret = Field(
        None, description="the agent's own bearer token, as the services list it for its agent_id, or "
        "the session's (COEDIT_AUTH_TOKEN only)",
    )
    auth_token_file: FilePath | None = Field(
        None, description="a file holding the agent's own (or the session's) bearer token (or COEDIT_AUTH_TOKEN)"
    )
    llm_base_url: str = Field(
        "https://api.openai.com/v1", description="any OpenAI-compatible API base URL"
    )
    llm_api_key: Secret = Field(
        OPENAI_API_KEY, validate_default=True,
        description="the model's API key (COEDIT_LLM_API_KEY or OPENAI_API_KEY only)",
    )
    llm_api_key_file: FilePath | None = Field(
        None, description="a file holding the model's API key (or COEDIT_LLM_API_KEY, OPENAI_API_KEY)"
    )
    model: str = Field("gpt-4o-mini", description="the model name")
    max_edits: int = Field(0, ge=0, description="stop after this many applied edits (0: no limit)")
    price_input: float = Field(0, ge=0, description="the model's USD per million prompt tokens (0: unknown)")
    price_output: float = Field(0, ge=0, description="the model's USD per million completion tokens (0: unknown)")
    phases: str = Field(
        "intent,confirm,generate,review",
        description="LLM phases to run; generate is required, the others fall back to rules",
    )
    context_chars: int = Field(
        500, ge=100, description="characters of the document one phase is shown"
    )
    start_spread: float = Field(
        3.0, ge=0, description="wait a random 0..N s before the first edit, so agents "
        "started together do not all claim the same places at once",
    )
    unsure_edit_timeout: float = Field(
        30.0, ge=0, description="how long to keep asking the node that got an edit and "
        "then failed to answer before the edit's outcome is reported unknown",
    )
    llm_timeout: float = Field(60.0, gt=0, description="seconds one model call may take")
    startup_timeout: float = Field(
        300.0, gt=0, description="seconds to wait for the services at start-up"
    )
    log_level: str = Field("info", description="debug, info, warning or error")

    @field_validator("llm_api_key", mode="before")
    @classmethod
    def _key_from_openai_env(cls, value):
        """The default reads OpenAI's own variable, as the `openai` client does."""
        return os.environ.get("OPENAI_API_KEY") if value == OPENAI_API_KEY else value

    @model_validator(mode="after")
    def _secrets_from_files(self) -> "AgentSettings":
        self.auth_token = secret_from(self.auth_token, self.auth_token_file, "auth_token")
        if self.llm_api_key_file is not None:  # the file wins over OPENAI_API_KEY, which is ambient
            self.llm_api_key = secret_from(None, self.llm_api_key_file, "llm_api_key")
        return self

    @field_validator("phases")
    @classmethod
    def _known_phases(cls, value: str) -> str:
        names = {p.strip() for p in value.split(",") if p.strip()}
        unknown = names - set(Phase)
        if unknown:
            raise ValueError(f"unknown phases {sorted(unknown)}; known: {[p.value for p in Phase]}")
        if Phase.GENERATE not in names:
            raise ValueError("the generate phase cannot be skipped: it writes the edit")
        return ",".join(p.value for p in Phase if p in names)

    @property
    def phase_set(self) -> frozenset[Phase]:
        return frozenset(Phase(p) for p in self.phases.split(","))

    @property
    def text_node_urls(self) -> list[str]:
        return [url.strip().rstrip("/") for url in self.text_nodes.split(",") if url.strip()]
