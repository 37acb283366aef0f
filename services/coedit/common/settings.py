"""Settings shared by every service: each field is a flag (`--kebab-case`) and an
environment variable (`COEDIT_UPPER_CASE`); flags win over the environment."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COEDIT_", cli_kebab_case=True, cli_implicit_flags=True, extra="ignore"
    )

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8000, ge=0, le=65535, description="port to listen on")
    auth_token: SecretStr | None = Field(
        None,
        description="bearer token required on writes and internal routes "
        "(unset: writes are open, for local experiments only)",
    )
    log_level: str = Field("info", description="debug, info, warning or error")
