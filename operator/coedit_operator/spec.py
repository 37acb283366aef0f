"""The `CoEditSession` spec and status as pydantic models: the one source of the CRD's
schema (see `crd.py`) and of the parsed, validated spec every builder takes."""

import re
from typing import Annotated, Literal

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError,
                      WithJsonSchema, field_validator, model_validator)
from pydantic.alias_generators import to_camel

from coedit.common.stopping import DURATION_PATTERN
from coedit_operator import consts

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# A session's name prefixes its Services' names: a DNS-1035 label (starts with a letter).
SESSION_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
QUANTITY_PATTERN = (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
                    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")  # resource.Quantity's
STORAGE_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$"  # the sizes volumes.py compares


def _integer_as_text(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def int_or_string(pattern: str) -> type:
    """A Kubernetes quantity as the API takes it: `cpu: 1` or `cpu: 500m`; the operator
    keeps it as text (x-kubernetes-int-or-string in the CRD)."""
    return Annotated[str, BeforeValidator(_integer_as_text), StringConstraints(pattern=pattern), WithJsonSchema(
        {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}], "pattern": pattern})]


Quantity = int_or_string(QUANTITY_PATTERN)
Quantities = dict[str, Quantity]


class Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Resources(Model):
    """Container resources, as in a Pod spec; the component's defaults fill what is left out."""

    requests: Quantities | None = Field(None, description="e.g. {cpu: 100m, memory: 256Mi}")
    limits: Quantities | None = Field(None, description="e.g. {memory: 512Mi}")


class Storage(Model):
    size: int_or_string(STORAGE_PATTERN) = Field("1Gi", description="PVC size (1Gi, 500M, or bytes); may grow, never shrink")
    storage_class_name: str | None = Field(None, description="StorageClass of the PVC (cluster default if unset)")


class Postgres(Model):
    image: str = Field("postgres:16.6-alpine", description="PostgreSQL image (official image layout), pinned to a release")
    run_as_user: int = Field(70, ge=1, description="the image's postgres uid (70 on alpine, 999 on debian)")
    storage: Storage = Field(default_factory=Storage, description="the database's volume")
    resources: Resources = Field(default_factory=Resources, description="the PostgreSQL container's resources")


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
    resources: Resources = Field(default_factory=Resources, description="each text node container's resources")
    postgres: Postgres = Field(default_factory=Postgres, description="each text node's own PostgreSQL (a sidecar)")
    affinity: Affinity = Field(default_factory=Affinity, description="how the session's text nodes spread")


class Redis(Model):
    image: str = Field("redis:7.4.1-alpine", description="Redis image, pinned to a release")
    run_as_user: int = Field(999, ge=1, description="the image's redis uid")
    storage: Storage = Field(default_factory=Storage, description="Redis's volume (append-only file)")
    resources: Resources = Field(default_factory=Resources, description="the Redis container's resources")


class Chat(Model):
    max_len: int = Field(1000, ge=1, description="messages the chat stream keeps (XADD MAXLEN)")
    resources: Resources = Field(default_factory=Resources, description="the chat container's resources")
    redis: Redis = Field(default_factory=Redis, description="the Redis the chat streams live in")


class Analytics(Model):
    resources: Resources = Field(default_factory=Resources, description="the analytics container's resources")
    postgres: Postgres = Field(default_factory=Postgres, description="the analytics service's PostgreSQL")


class Budget(Model):
    """Whichever limit is reached first completes the session."""

    tokens: int = Field(100_000, ge=1, description="the session's token budget; agents stop when it is spent")
    usd: float | None = Field(
        None, ge=0.000001, le=1e6, description="a money budget (USD at the agent groups' prices): never passed, since "
        "the text nodes' token limit becomes no more than it buys at the highest price per token",
    )
    max_versions: int | None = Field(None, ge=1, description="complete the session once the document has this many versions")
    max_duration: str | None = Field(
        None, pattern=DURATION_PATTERN, description="complete the session this long after it was created (e.g. 90m, 2h)"
    )


class SecretKeyRef(Model):
    name: str = Field(pattern=NAME_PATTERN, max_length=253, description="Secret in the session's namespace")
    key: str = Field("OPENAI_API_KEY", min_length=1, description="key in the Secret")


class LLM(Model):
    base_url: str = Field("https://api.openai.com/v1", pattern=r"^https?://", description="OpenAI-compatible API")
    model: str = Field("gpt-4o-mini", min_length=1, description="default model of every agent group")
    api_key_secret: SecretKeyRef | None = Field(None, description="Secret holding the API key (OPENAI_API_KEY)")
    price_input: float = Field(0, ge=0, le=1e4, description="USD per million prompt tokens (0: unknown)")
    price_output: float = Field(0, ge=0, le=1e4, description="USD per million completion tokens (0: unknown)")


class AgentGroup(Model):
    name: str = Field(pattern=NAME_PATTERN, max_length=20, description="group name (its Deployment's suffix)")
    persona: str = Field("", max_length=4000, description="how the group's agents behave")
    weight: int = Field(1, ge=1, le=1000, description="share of spec.agents.replicas this group gets")
    model: str | None = Field(None, min_length=1, description="LLM model for this group (default: spec.llm.model)")
    price_input: float | None = Field(None, ge=0, le=1e4, description="USD per million prompt tokens (default: spec.llm's)")
    price_output: float | None = Field(None, ge=0, le=1e4, description="USD per million completion tokens (default: spec.llm's)")


class Agents(Model):
    replicas: int = Field(
        3, ge=0, le=1000, description="total agents, spread over the groups by weight (the scale subresource)"
    )
    resources: Resources = Field(default_factory=Resources, description="each agent container's resources")
    groups: list[AgentGroup] = Field(
        default_factory=lambda: [AgentGroup(name="writers")],
        description="agent groups, each with its persona and model; names are unique",
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
    resources: Resources = Field(default_factory=Resources, description="each web container's resources")


class IngressTLS(Model):
    secret_name: str = Field(pattern=NAME_PATTERN, max_length=253, description="Secret with the certificate")


class Ingress(Model):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        # rule and message only: fieldPath and reason need Kubernetes 1.28, the chart supports 1.27
        {"rule": "!has(self.tls) || (has(self.host) && self.host != '')", "message": "ingress.tls needs ingress.host"}]})

    host: str | None = Field(None, max_length=253, pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                             description="public host name; no Ingress without it")
    class_name: str | None = Field(None, description="IngressClass")
    tls: IngressTLS | None = Field(None, description="serve HTTPS with this certificate")
    annotations: dict[str, str] | None = Field(None, description="extra Ingress annotations (e.g. cert-manager)")

    @model_validator(mode="after")
    def tls_needs_host(self) -> "Ingress":
        if self.tls is not None and not self.host:
            raise ValueError("ingress.tls needs ingress.host")
        return self


class McpTokens(Model):
    name: str = Field(pattern=NAME_PATTERN, max_length=253, description="Secret in the session's namespace")
    key: str = Field("tokens", min_length=1, description='key whose value lists the agents: "claude=tok1,cursor=tok2"')


class Mcp(Model):
    """Outside agents (Claude Code, Cursor, SDK programs) join the session over MCP."""

    enabled: bool = Field(False, description="serve the session over MCP (coedit mcp), behind the ingress at /mcp")
    replicas: int = Field(1, ge=1, le=20, description="MCP server replicas (stateless; the write rate is per replica)")
    tokens_secret: McpTokens | None = Field(None, description="Secret naming each outside agent and its bearer token")
    writes_per_minute: int = Field(30, ge=1, le=10_000, description="intents, edits and comments per agent per minute")
    resources: Resources = Field(default_factory=Resources, description="the MCP server container's resources")

    @model_validator(mode="after")
    def enabled_needs_tokens(self) -> "Mcp":
        if self.enabled and self.tokens_secret is None:
            raise ValueError("mcp.enabled needs mcp.tokensSecret (the outside agents' tokens)")
        return self


class Telemetry(Model):
    otlp_endpoint: str | None = Field(None, pattern=r"^https?://", description="OTLP/HTTP endpoint for traces")


class SessionSpec(Model):
    """A document that several AI agents write together."""

    image: str | None = Field(None, description="coedit image (default: the operator's --image)")
    document: Document = Field(default_factory=Document, description="what the agents write: title, topic, first text")
    text_nodes: TextNodes = Field(
        default_factory=TextNodes, description="the document's replicas (StatefulSets), each with its own PostgreSQL")
    chat: Chat = Field(default_factory=Chat, description="the agents' chat service and its Redis")
    analytics: Analytics = Field(default_factory=Analytics, description="the analytics service and its PostgreSQL")
    budget: Budget = Field(default_factory=Budget, description="how many LLM tokens the session may spend")
    llm: LLM = Field(default_factory=LLM, description="the OpenAI-compatible model the agents call")
    agents: Agents = Field(default_factory=Agents, description="the writing agents: how many, in which groups")
    web: Web = Field(default_factory=Web, description="the web UI where people read and edit")
    ingress: Ingress = Field(default_factory=Ingress, description="public access to the web UI (an Ingress when host is set)")
    mcp: Mcp = Field(default_factory=Mcp, description="outside agents over MCP (coedit mcp), behind the ingress at /mcp")
    telemetry: Telemetry = Field(default_factory=Telemetry, description="where the services send traces")
    suspend: bool = Field(
        False, description="true: pause the session as a person's pause does (no agent starts a model call or "
        "submits an edit) and scale the agents to 0; false again: resume (condition Suspended)")

    def prices(self, group: AgentGroup) -> tuple[float, float]:
        """A group's USD per million prompt and completion tokens (spec.llm's unless its own)."""
        return (self.llm.price_input if group.price_input is None else group.price_input,
                self.llm.price_output if group.price_output is None else group.price_output)


# -- status --

class Condition(Model):
    """A metav1.Condition: `type` is free-form (CamelCase), so a newer operator's new
    condition needs no CRD upgrade."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(max_length=316, pattern=(
        r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"),
        description="kind of condition, CamelCase (Ready, Progressing, BudgetExhausted, ...)")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown")
    reason: str = Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
                        description="why the condition last changed, CamelCase")
    message: str = Field("", max_length=32768, description="what a person should know about it")
    last_transition_time: str = Field(description="when status last changed (RFC 3339)",
                                      json_schema_extra={"format": "date-time"})
    observed_generation: int | None = Field(None, ge=0, description="the spec generation the condition was set for")


class Counts(Model):
    model_config = ConfigDict(extra="ignore")

    ready: int = Field(0, description="pods ready")
    desired: int = Field(0, description="pods the spec asks for")


class AgentCounts(Counts):
    replicas: int = Field(0, description="agent pods that exist (the scale subresource's status)")
    selector: str = Field("", description="label selector of the agent pods")
    summary: str = Field("", description="ready/desired, for kubectl get")


class Tokens(Model):
    model_config = ConfigDict(extra="ignore")

    used: int = Field(0, description="tokens spent so far (the text nodes' ledger)")
    limit: int = Field(0, description="the budget (spec.budget.tokens)")
    summary: str = Field("", description="used/limit, for kubectl get")


class Completion(Model):
    model_config = ConfigDict(extra="ignore")

    reason: Literal["BudgetExhausted", "MoneySpent", "MaxVersions", "MaxDuration"] = Field(
        description="the stop condition met"
    )
    message: str = Field("", description="what was reached, in words")


class SessionStatus(Model):
    model_config = ConfigDict(extra="ignore")

    phase: Literal[
        consts.PENDING, consts.PROVISIONING, consts.RUNNING, consts.DEGRADED, consts.COMPLETED, consts.FAILED
    ] = Field(consts.PENDING, description="Pending, Provisioning, Running, Degraded, Completed or Failed")
    message: str = Field("", description="what the phase means now, for people")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="standard conditions (metav1.Condition), one per type",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(None, description="the spec generation this status describes")
    document_version: int | None = Field(None, description="edits the document holds")
    tokens: Tokens = Field(default_factory=Tokens, description="the token budget and what is spent")
    completion: Completion | None = Field(None, description="why the session completed (the first stop condition met)")
    nodes: Counts = Field(default_factory=Counts, description="text node pods")
    agents: AgentCounts = Field(default_factory=AgentCounts, description="agent pods")
    url: str | None = Field(None, description="where people read the session")
    mcp_url: str | None = Field(None, description="where outside agents connect over MCP (spec.mcp.enabled)")


class Session(BaseModel):
    """A parsed CR: identity plus validated spec and last status."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str
    uid: str | None = None
    generation: int | None = None
    created: str | None = Field(None, description="metadata.creationTimestamp")
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
    if name and not re.match(SESSION_NAME_PATTERN, name):
        raise InvalidSpec("metadata.name: lower-case letters, digits and '-', starting with a letter (a DNS label)")
    try:
        spec = SessionSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        raise InvalidSpec(_describe(error)) from None
    return Session(
        name=name,
        namespace=meta.get("namespace") or "default",
        uid=meta.get("uid"),
        generation=meta.get("generation"),
        created=meta.get("creationTimestamp"),
        spec=spec,
        status=parse_status(body),
    )


def parse_status(body: dict) -> SessionStatus:
    try:
        return SessionStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return SessionStatus()  # a status we cannot read is rebuilt from the children
