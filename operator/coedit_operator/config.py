"""The operator's build configuration, read by every `*_objects.py` builder. A leaf:
it imports only the constants, so a builder never reaches the command that runs it."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from coedit_operator import consts


class BuildConfig(BaseSettings):
    """What the child objects depend on besides the CR."""

    model_config = SettingsConfigDict(
        env_prefix="COEDIT_", cli_kebab_case=True, cli_implicit_flags=True, extra="ignore"
    )

    image: str = Field("ghcr.io/coedit/coedit:latest", description="coedit image, unless a session sets spec.image")
    image_pull_policy: str = Field("IfNotPresent", description="imagePullPolicy of every coedit container")
    run_as_user: int = Field(10001, ge=1, description="uid the coedit image runs as")
    metrics_from: list[dict] = Field(
        consts.METRICS_SCRAPERS,  # pydantic copies a mutable default for each instance
        description="NetworkPolicy peers (JSON) admitted to the sessions' HTTP port to scrape "
        "/metrics ([] for none); the default admits the Prometheus Operator's Prometheus pods in any namespace",
    )
