"""Operator settings: `coedit operator [flags]` runs the operator, `coedit operator
render -f SESSION.yaml` prints the children it would apply. Every flag is also an
environment variable `COEDIT_<FLAG>`."""

import copy
import random
import sys
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, CliSubCommand, SettingsConfigDict

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
        default_factory=lambda: copy.deepcopy(consts.METRICS_SCRAPERS),
        description="NetworkPolicy peers (JSON) admitted to the sessions' HTTP port to scrape "
        "/metrics; default: the Prometheus Operator's Prometheus pods in any namespace; [] for none",
    )


class RenderSettings(BuildConfig):
    """Print, as YAML, every child object the operator would apply for a session."""

    file: Path = Field(validation_alias=AliasChoices("f", "file"), description="the CoEditSession manifest")
    namespace: str | None = Field(None, description="namespace to render into (default: the manifest's)")

    def cli_cmd(self) -> None:
        from coedit_operator.render import render_file
        from coedit_operator.spec import InvalidSpec

        try:
            print(render_file(self.file, self, namespace=self.namespace), end="")
        except InvalidSpec as error:
            sys.exit(f"invalid session in {self.file}: {error}")


class OperatorSettings(BuildConfig):
    """Run the CoEditSession operator (kopf)."""

    namespaces: list[str] = Field(
        default_factory=list, description="namespaces to serve (comma-separated; default: the whole cluster)"
    )
    standalone: bool = Field(False, description="run without peering (only one operator replica)")
    peering: str | None = Field(
        None, description="KopfPeering that keeps replicas from fighting (required then; default: kopf's "
        "'default' peering if its CRD exists, else standalone)"
    )
    priority: int = Field(
        default_factory=lambda: random.randint(1, 32767),
        description="peering priority; replicas must differ or kopf pauses them all "
        "(default: random, so the highest-priority replica works and the others stand by)",
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
    log_level: str = Field("info", description="debug, info, warning or error")
    metrics_port: int = Field(9090, ge=0, le=65535, description="port of the operator's Prometheus /metrics (0: off)")
    metrics_host: str = Field("0.0.0.0", description="address the metrics port listens on")


class OperatorCommand(OperatorSettings):
    """Run the CoEditSession operator (kopf); `render` prints a session's children instead."""

    render: CliSubCommand[RenderSettings]

    def cli_cmd(self) -> None:
        if self.render is not None:
            self.render.cli_cmd()
            return
        from coedit_operator.main import run

        run(self)
