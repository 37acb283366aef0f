"""Operator settings: `coedit operator [flags]` runs the operator, `coedit operator
render -f SESSION.yaml` prints the children it would apply. Every flag is also an
environment variable `COEDIT_<FLAG>`. Plain data: `coedit.commands` runs them."""

import random

from pydantic import AliasChoices, Field, FilePath, field_validator
from pydantic_settings import CliSubCommand

from coedit_operator.config import BuildConfig


class RenderSettings(BuildConfig):
    """Print, as YAML, every child object the operator would apply for a session."""

    file: FilePath = Field(validation_alias=AliasChoices("f", "file"), description="the CoEditSession manifest")
    namespace: str | None = Field(None, description="namespace to render into (unset: the manifest's)")


class OperatorSettings(BuildConfig):
    """Run the CoEditSession operator (kopf)."""

    namespaces: list[str] = Field(
        [], description="namespaces to serve (comma-separated; []: the whole cluster)"
    )
    standalone: bool = Field(False, description="run without peering (only one operator replica)")
    peering: str | None = Field(
        None, description="KopfPeering that keeps replicas from fighting (required then; unset: kopf's "
        "'default' peering if its CRD exists, else standalone)"
    )
    priority: int = Field(
        0, ge=0, le=32767,
        description="peering priority; replicas must differ or kopf pauses them all "
        "(0: a random one, so the highest-priority replica works and the others stand by)",
    )
    liveness: str | None = Field(None, description="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    resync_interval: float = Field(
        10.0, gt=0, description="seconds between readings of each session's text nodes (token budget, document "
        "version); the children's changes and drift come from watches, not from this timer"
    )
    http_timeout: float = Field(5.0, gt=0, description="timeout of calls to the session's text nodes")
    text_url_template: str = Field(
        "http://{name}-text-{node}.{namespace}.svc:8000",
        description="how the operator reaches a text node ({name}, {namespace}, {node})",
    )
    chat_url_template: str = Field(
        "http://{name}-chat.{namespace}.svc:8000",
        description="how the operator reaches a session's chat, to pause it for spec.suspend ({name}, {namespace})",
    )
    log_level: str = Field("info", description="debug, info, warning or error")
    metrics_port: int = Field(9090, ge=0, le=65535, description="port of the operator's Prometheus /metrics (0: off)")
    metrics_host: str = Field("0.0.0.0", description="address the metrics port listens on")

    @field_validator("priority")
    @classmethod
    def _random_unless_given(cls, value: int) -> int:
        return value or random.randint(1, 32767)


class OperatorCommand(OperatorSettings):
    """Run the CoEditSession operator (kopf); `render` prints a session's children instead."""

    render: CliSubCommand[RenderSettings]
