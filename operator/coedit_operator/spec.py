"""The `CoEditSession` spec and status as pydantic models: the one source of the CRD's
schema (see `crd.py`) and of the parsed, validated spec every builder takes."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from coedit_operator import consts

Quantities = dict[str, str]
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Resources(Model):
    """Container resources, as in a Pod spec; the component's defaults fill what is left out."""

    requests: Quantities | None = Field(None, description="e.g. {cpu: 100m, memory: 256Mi}")
    limits: Quantities | None = Field(None, description="e.g. {memory: 512Mi}")


class Storage(Model):
    size: str = Field("1Gi", pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$", description="PVC size")
    storage_class_name: str | None = Field(None, description="StorageClass of the PVC (cluster default if unset)")


class Postgres(Model):
    image: str = Field("postgres:16-alpine", description="PostgreSQL image (official image layout)")
    run_as_user: int = Field(70, ge=1, description="the image's postgres uid (70 on alpine, 999 on debian)")
    storage: Storage = Field(default_factory=Storage)
    resources: Resources = Field(default_factory=Resources)


class Document(Model):
    title: str = Field("", max_length=200, description="the document's title")
    initial_text: str = Field("", max_length=100_000, description="the text at version 0")
    topic: str = Field("", max_length=2000, description="what the agents write about")
    language: str = Field("en", min_length=2, max_length=35, description="language the agents write in (BCP 47)")


class Affinity(Model):
    """How the text nodes of a session spread over the cluster (as CloudNativePG's `affinity`)."""

    pod_anti_affinity_type: Literal["preferred", "required"] = Field(
        "preferred", description="preferred: the scheduler spreads the text nodes when it can; required: a text "
        "node stays Pending rather than share a topology domain with another of the session's nodes")
    topology_key: str = Field(
        "kubernetes.io/hostname", min_length=1, max_length=316,
        description="node label whose values are the domains to spread over (e.g. topology.kubernetes.io/zone)")


class TextNodes(Model):
    count: int = Field(3, ge=1, le=len(consts.NODE_IDS), description="text node replicas (ids a, b, c, ...)")
    resources: Resources = Field(default_factory=Resources)
    postgres: Postgres = Field(default_factory=Postgres)
    affinity: Affinity = Field(default_factory=Affinity)


class Redis(Model):
    image: str = Field("redis:7-alpine", description="Redis image")
    run_as_user: int = Field(999, ge=1, description="the image's redis uid")
    storage: Storage = Field(default_factory=Storage)
    resources: Resources = Field(default_factory=Resources)


class Chat(Model):
    max_len: int = Field(1000, ge=1, description="messages the chat stream keeps (XADD MAXLEN)")
    resources: Resources = Field(default_factory=Resources)
    redis: Redis = Field(default_factory=Redis)


class Analytics(Model):
    resources: Resources = Field(default_factory=Resources)
    postgres: Postgres = Field(default_factory=Postgres)


class Budget(Model):
    tokens: int = Field(100_000, ge=1, description="the session's token budget; agents stop when it is spent")


class SecretKeyRef(Model):
    name: str = Field(pattern=NAME_PATTERN, max_length=253, description="Secret in the session's namespace")
    key: str = Field("OPENAI_API_KEY", min_length=1, description="key in the Secret")


class LLM(Model):
    base_url: str = Field("https://api.openai.com/v1", pattern=r"^https?://", description="OpenAI-compatible API")
    model: str = Field("gpt-4o-mini", min_length=1, description="default model of every agent group")
    api_key_secret: SecretKeyRef | None = Field(None, description="Secret holding the API key (OPENAI_API_KEY)")


class AgentGroup(Model):
    name: str = Field(pattern=NAME_PATTERN, max_length=20, description="group name (its Deployment's suffix)")
    persona: str = Field("", max_length=4000, description="how the group's agents behave")
    weight: int = Field(1, ge=1, le=1000, description="share of spec.agents.replicas this group gets")
    model: str | None = Field(None, min_length=1, description="LLM model for this group (default: spec.llm.model)")


class Agents(Model):
    replicas: int = Field(
        3, ge=0, le=1000, description="total agents, spread over the groups by weight (the scale subresource)"
    )
    resources: Resources = Field(default_factory=Resources)
    groups: list[AgentGroup] = Field(
        default_factory=lambda: [AgentGroup(name="writers")],
        min_length=1,
        max_length=20,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @field_validator("groups")
    @classmethod
    def unique_names(cls, groups: list[AgentGroup]) -> list[AgentGroup]:
        names = [group.name for group in groups]
        if len(set(names)) != len(names):
            raise ValueError(f"agent group names must be unique: {names}")
        return groups


class Web(Model):
    replicas: int = Field(1, ge=0, le=20, description="web UI replicas")
    resources: Resources = Field(default_factory=Resources)


class IngressTLS(Model):
    secret_name: str = Field(pattern=NAME_PATTERN, max_length=253, description="Secret with the certificate")


class Ingress(Model):
    host: str | None = Field(None, max_length=253, description="public host name; no Ingress without it")
    class_name: str | None = Field(None, description="IngressClass")
    tls: IngressTLS | None = Field(None, description="serve HTTPS with this certificate")
    annotations: dict[str, str] | None = Field(None, description="extra Ingress annotations (e.g. cert-manager)")

    @model_validator(mode="after")
    def tls_needs_host(self) -> "Ingress":
        if self.tls is not None and not self.host:
            raise ValueError("ingress.tls needs ingress.host")
        return self


class Telemetry(Model):
    otlp_endpoint: str | None = Field(None, pattern=r"^https?://", description="OTLP/HTTP endpoint for traces")


class SessionSpec(Model):
    """A document that several AI agents write together."""

    image: str | None = Field(None, description="coedit image (default: the operator's --image)")
    document: Document = Field(default_factory=Document)
    text_nodes: TextNodes = Field(default_factory=TextNodes)
    chat: Chat = Field(default_factory=Chat)
    analytics: Analytics = Field(default_factory=Analytics)
    budget: Budget = Field(default_factory=Budget)
    llm: LLM = Field(default_factory=LLM)
    agents: Agents = Field(default_factory=Agents)
    web: Web = Field(default_factory=Web)
    ingress: Ingress = Field(default_factory=Ingress)
    telemetry: Telemetry = Field(default_factory=Telemetry)


# -- status --

class Condition(Model):
    model_config = ConfigDict(extra="ignore")

    type: Literal["Ready", "Progressing", "BudgetExhausted"]
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str = Field(description="RFC 3339")
    observed_generation: int | None = None


class Counts(Model):
    model_config = ConfigDict(extra="ignore")

    ready: int = 0
    desired: int = 0


class AgentCounts(Counts):
    replicas: int = Field(0, description="agent pods that exist (the scale subresource's status)")
    selector: str = Field("", description="label selector of the agent pods")
    summary: str = Field("", description="ready/desired, for kubectl get")


class Tokens(Model):
    model_config = ConfigDict(extra="ignore")

    used: int = 0
    limit: int = 0
    summary: str = Field("", description="used/limit, for kubectl get")


class SessionStatus(Model):
    model_config = ConfigDict(extra="ignore")

    phase: Literal[
        consts.PENDING, consts.PROVISIONING, consts.RUNNING, consts.DEGRADED, consts.COMPLETED, consts.FAILED
    ] = consts.PENDING
    message: str = ""
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = None
    document_version: int | None = Field(None, description="edits the document holds")
    tokens: Tokens = Field(default_factory=Tokens)
    nodes: Counts = Field(default_factory=Counts)
    agents: AgentCounts = Field(default_factory=AgentCounts)
    url: str | None = Field(None, description="where people read the session")


class Session(BaseModel):
    """A parsed CR: identity plus validated spec and last status."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str
    uid: str | None = None
    generation: int | None = None
    spec: SessionSpec
    status: SessionStatus = Field(default_factory=SessionStatus)


class InvalidSpec(ValueError):
    """The spec passed the CRD schema (or none was applied) but cannot be run."""


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"spec.{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
    )


def parse_session(body: dict) -> Session:
    """Parse a CoEditSession body; raise `InvalidSpec` naming every problem."""
    meta = body.get("metadata") or {}
    name = meta.get("name") or ""
    if len(name) > consts.MAX_SESSION_NAME:
        raise InvalidSpec(f"metadata.name: at most {consts.MAX_SESSION_NAME} characters (child names derive from it)")
    try:
        spec = SessionSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        raise InvalidSpec(_describe(error)) from None
    return Session(
        name=name,
        namespace=meta.get("namespace") or "default",
        uid=meta.get("uid"),
        generation=meta.get("generation"),
        spec=spec,
        status=parse_status(body),
    )


def parse_status(body: dict) -> SessionStatus:
    try:
        return SessionStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return SessionStatus()  # a status we cannot read is rebuilt from the children
