"""Names shared by the CRD, the child builders and the handlers."""

GROUP = "coedit.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "CoEditSession"
PLURAL = "coeditsessions"
SINGULAR = "coeditsession"
SHORT_NAME = "ces"

FIELD_MANAGER = "coedit-operator"
OPERATOR_NAME = "coedit-operator"

# Standard labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_TEXT_NODE = f"{GROUP}/text-node"
LABEL_AGENT_GROUP = f"{GROUP}/agent-group"
ANNOTATION_CONFIG_HASH = f"{GROUP}/config-hash"

APP_NAME = "coedit"

# Components: the value of app.kubernetes.io/component on each child.
TEXT_NODE = "text-node"
REDIS = "redis"
CHAT = "chat"
ANALYTICS = "analytics"
ANALYTICS_DB = "analytics-db"
AGENT = "agent"
WEB = "web"
MCP = "mcp"

# Ports inside the pods.
HTTP_PORT = 8000
POSTGRES_PORT = 5432
REDIS_PORT = 6379

# Keys of the generated Secret.
SECRET_AUTH_TOKEN = "auth-token"
SECRET_POSTGRES_PASSWORD = "postgres-password"
SECRET_REDIS_PASSWORD = "redis-password"
# The key of each agent group's own Secret: its agents' token (see common_objects.agent_tokens_env).
SECRET_AGENT_TOKEN = "token"

# Text node ids, in order: the first `count` are used.
NODE_IDS = "abcdefg"

# The operator's pods carry this label; the session's NetworkPolicy lets them read the text nodes.
OPERATOR_POD_LABELS = {LABEL_NAME: OPERATOR_NAME}

# Who may scrape the sessions' /metrics by default (a NetworkPolicy peer): the Prometheus
# servers the Prometheus Operator runs (kube-prometheus-stack), in any namespace. Their
# pods carry this label, whatever the Prometheus resource is called.
METRICS_SCRAPERS = [{
    "namespaceSelector": {},
    "podSelector": {"matchExpressions": [{"key": "operator.prometheus.io/name", "operator": "Exists"}]},
}]

# Session names are limited so that every child's name (and its pods' names) stays a valid label value.
MAX_SESSION_NAME = 40

# status.phase values.
PENDING = "Pending"
PROVISIONING = "Provisioning"
RUNNING = "Running"
DEGRADED = "Degraded"
COMPLETED = "Completed"
FAILED = "Failed"
