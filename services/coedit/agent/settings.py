import os
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coedit.agent.protocol import Phase

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
    auth_token: SecretStr | None = Field(None, description="the session's bearer token")
    llm_base_url: str = Field(
        "https://api.openai.com/v1", description="any OpenAI-compatible API base URL"
    )
    llm_api_key: SecretStr | None = Field(
        OPENAI_API_KEY, validate_default=True, description="the model's API key"
    )
    model: str = Field("gpt-4o-mini", description="the model name")
    max_edits: int = Field(0, ge=0, description="stop after this many applied edits (0: no limit)")
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
