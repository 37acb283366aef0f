"""Settings shared by every service: each field is a flag (`--kebab-case`) and an
environment variable (`COEDIT_UPPER_CASE`); flags win over the environment.

A secret is never a flag (every local user reads a process's flags in `ps`): a
`Secret` field comes from its variable, or from the file its `<name>_file` flag
names (a mounted Kubernetes Secret, a file only its owner reads); `coedit.cli`
refuses its flag, naming both."""

from pathlib import Path

from pydantic import Field, FilePath, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, CliSuppress, SettingsConfigDict

from coedit.common.agent_tokens import by_token, load_tokens

Secret = CliSuppress[SecretStr | None]


def secret_from(value: SecretStr | None, path: Path | None, name: str) -> SecretStr | None:
    """The secret `name` from its variable or its file (two different ones are an
    error; settings may be validated more than once); a file's text is stripped of
    the new line editors and `echo` add."""
    if path is None:
        return value
    text = path.read_text().strip()
    if not text:
        raise ValueError(f"--{flag(name)}-file {path} is empty")
    if value is not None and value.get_secret_value() != text:
        raise ValueError(f"COEDIT_{name.upper()} and --{flag(name)}-file disagree: give one of them")
    return SecretStr(text)


def flag(name: str) -> str:
    return name.replace("_", "-")


NO_TOKEN = ("no token: set COEDIT_AUTH_TOKEN or --auth-token-file PATH, "
            "or pass --insecure-no-auth to let anyone who reaches the port write")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COEDIT_", cli_kebab_case=True, cli_implicit_flags=True, extra="ignore",
        env_ignore_empty=True,  # `COEDIT_AUTH_TOKEN=` is no token, not an empty one
    )

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8000, ge=0, le=65535, description="port to listen on")
    auth_token: Secret = Field(
        None, description="bearer token required on writes and internal routes (COEDIT_AUTH_TOKEN only)"
    )
    auth_token_file: FilePath | None = Field(
        None, description="a file holding the bearer token required on writes and internal routes "
        "(or COEDIT_AUTH_TOKEN; one of them, or --insecure-no-auth, is required)",
    )
    insecure_no_auth: bool = Field(
        False, description="run without a token: writes and internal routes open to anyone "
        "(local experiments only)",
    )
    log_level: str = Field("info", description="debug, info, warning or error")
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="proxies whose X-Forwarded-For names the client (comma-separated "
        "addresses, or * behind an ingress): caps per client count clients, not the proxy",
    )

    @model_validator(mode="after")
    def _secure_by_default(self) -> "ServiceSettings":
        """A service without a token is open to every local user and, on any other
        address, to everyone: it starts only when told so in so many words."""
        self.auth_token = secret_from(self.auth_token, self.auth_token_file, "auth_token")
        if self.auth_token is not None and not self.auth_token.get_secret_value().strip():
            raise ValueError("the token is empty (it would let `Bearer ` in)")
        if self.auth_token is None and not self.insecure_no_auth:
            raise ValueError(NO_TOKEN)
        if self.auth_token is not None and self.insecure_no_auth:
            raise ValueError("--insecure-no-auth and a token: give one of them")
        return self

    @property
    def agents(self) -> dict[bytes, str]:
        """Agents' own tokens (token -> agent_id); none unless the service takes them."""
        return {}


class AgentTokenSettings(ServiceSettings):
    """A service agents write to (text node, chat, analytics): optional tokens of their
    own, so an agent can write only as itself."""

    agent_tokens: Secret = Field(
        None, description='agents and their own bearer tokens: "ada=tok1,bob=tok2" (a group\'s '
        '"writers/*=tok3" writes as any writers/<member>); a write with an agent\'s token may carry '
        "only that agent_id (COEDIT_AGENT_TOKENS only)",
    )
    agent_tokens_file: FilePath | None = Field(
        None, description="a file of `name=token` entries (one a line, or comma-separated), e.g. a "
        "mounted Kubernetes Secret; read at start-up, beside COEDIT_AGENT_TOKENS",
    )
    _agents: dict[bytes, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _load_agent_tokens(self) -> "AgentTokenSettings":
        """Read once, at start-up: a bad list stops the service (`TokenError`)."""
        tokens = load_tokens(self.agent_tokens.get_secret_value() if self.agent_tokens else None,
                             self.agent_tokens_file)
        if tokens and self.auth_token is None:
            raise ValueError("agent tokens need the session token: with --insecure-no-auth anyone "
                             "writes as any agent")
        if self.auth_token is not None and self.auth_token.get_secret_value() in tokens.values():
            raise ValueError("an agent's token is the session token: each agent needs its own")
        self._agents = by_token(tokens)
        return self

    @property
    def agents(self) -> dict[bytes, str]:
        return self._agents


class AgentWriteSettings(AgentTokenSettings):
    """A service agents write to often (text node, chat): their tokens and a write rate
    per agent."""

    agent_writes_per_minute: int = Field(
        0, ge=0, le=1_000_000, description="writes one agent_id may make in any window "
        "(--agent-writes-window, a minute unless told); 0: no limit",
    )
    agent_writes_window: int = Field(
        60, ge=1, le=3600, description="seconds of the moving window agent writes are counted over"
    )
