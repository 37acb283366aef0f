"""Session-wide children: the generated Secrets, the ConfigMap and the NetworkPolicies."""

import hashlib
import json
import secrets

from coedit_operator import consts
from coedit_operator.analytics_objects import analytics_url
from coedit_operator.chat_objects import chat_url
from coedit_operator.common_objects import (
    agent_token_secret_name, child_name, config_map_name, metadata, secret_name, selector_labels,
)
from coedit_operator.spec import Session
from coedit_operator.stopping import token_limit
from coedit_operator.text_node_objects import text_node_urls

SESSION = "session"


def new_secret_values() -> dict[str, str]:
    """Fresh random credentials; the operator creates the Secret once and never replaces it."""
    return {
        consts.SECRET_AUTH_TOKEN: secrets.token_urlsafe(32),
        consts.SECRET_POSTGRES_PASSWORD: secrets.token_urlsafe(24),
        consts.SECRET_REDIS_PASSWORD: secrets.token_urlsafe(24),
    }


def internal_secret(session: Session, values: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(session, secret_name(session), SESSION),
        "type": "Opaque",
        "stringData": values,
    }


def agent_token_secret(session: Session, group: str, token: str) -> dict:
    """One agent group's token: its agents' credential, which the text nodes, chat and
    analytics take as the group's (see common_objects.agent_tokens_env)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(session, agent_token_secret_name(session, group), consts.AGENT,
                             **{consts.LABEL_AGENT_GROUP: group}),
        "type": "Opaque",
        "stringData": {consts.SECRET_AGENT_TOKEN: token},
    }


def new_secrets(session: Session) -> list[dict]:
    """The session's create-once Secrets, with fresh random values: the internal one and
    each agent group's token. An existing one is kept as it is (reconcile.ensure_secrets),
    so a group keeps its token; a removed group's stays, accepted by no service, until
    the session is deleted."""
    return [internal_secret(session, new_secret_values()),
            *(agent_token_secret(session, group.name, secrets.token_urlsafe(32))
              for group in session.spec.agents.groups)]


def config_data(session: Session) -> dict[str, str]:
    """The session's shared, non-secret settings, named as the services' env vars."""
    spec = session.spec
    data = {
        "COEDIT_SESSION": session.name,
        "COEDIT_TITLE": spec.document.title,
        "COEDIT_INITIAL_TEXT": spec.document.initial_text,
        "COEDIT_TOPIC": spec.document.topic,
        "COEDIT_LANGUAGE": spec.document.language,
        "COEDIT_TOKEN_BUDGET": str(token_limit(spec)),  # a money budget may lower it
        "COEDIT_MAX_LEN": str(spec.chat.max_len),
        "COEDIT_TEXT_NODES": ",".join(text_node_urls(session)),
        "COEDIT_CHAT_URL": chat_url(session),
        "COEDIT_ANALYTICS_URL": analytics_url(session),
    }
    return data


def config_hash(session: Session) -> str:
    """Stamped on pod templates so that a ConfigMap change rolls the pods."""
    return hashlib.sha256(json.dumps(config_data(session), sort_keys=True).encode()).hexdigest()[:16]


def config_map(session: Session) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(session, config_map_name(session), SESSION),
        "data": config_data(session),
    }


def network_policies(session: Session, metrics_from: list[dict]) -> list[dict]:
    """Only the session's own pods reach its pods; the web UI is open on its HTTP port;
    the operator may read the text nodes (budget, version) and pause the chat
(spec.suspend); `metrics_from` (Prometheus)
    may scrape every pod's HTTP port."""
    session_pods = lambda: {"matchLabels": {consts.LABEL_INSTANCE: session.name}}
    http = lambda: [{"protocol": "TCP", "port": consts.HTTP_PORT}]

    def policy(name: str, pod_selector: dict, rules: list[dict]) -> dict:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata(session, child_name(session, name), SESSION),
            "spec": {"podSelector": pod_selector, "policyTypes": ["Ingress"], "ingress": rules},
        }

    return [
        policy("internal", session_pods(), [{"from": [{"podSelector": session_pods()}]}]),
        policy("web", {"matchLabels": selector_labels(session, consts.WEB)}, [{"ports": http()}]),
        policy("operator", {"matchLabels": {consts.LABEL_INSTANCE: session.name}, "matchExpressions": [
            {"key": consts.LABEL_COMPONENT, "operator": "In", "values": [consts.TEXT_NODE, consts.CHAT]}]}, [{
            "from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": dict(consts.OPERATOR_POD_LABELS)}}],
            "ports": http(),
        }]),
        *([policy("metrics", session_pods(), [{"from": metrics_from, "ports": http()}])] if metrics_from else []),
    ]
