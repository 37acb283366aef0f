"""The MCP server for outside agents (`spec.mcp.enabled`): a Deployment reading the
agents' tokens from the user's Secret (a file), its Service, the Ingress path /mcp
on the web UI's host, and a NetworkPolicy that lets outside clients reach it (each
one still needs its own bearer token)."""

from coedit_operator import consts
from coedit_operator.common_objects import (
    auth_token_env, child_name, coedit_container, config_env, deployment, env, metadata, pod_template, resources,
    selector_labels, service, tmp_volume,
)
from coedit_operator.settings import BuildConfig
from coedit_operator.spec import Session
from coedit_operator.web_objects import web_ingress

TOKENS_DIR = "/etc/coedit/mcp"
PATH = "/mcp"


def mcp_name(session: Session) -> str:
    return child_name(session, "mcp")


def mcp_url(session: Session) -> str:
    """Where outside agents connect: behind the ingress host, else the in-cluster Service."""
    ingress = session.spec.ingress
    if ingress.host:
        return f"{'https' if ingress.tls else 'http'}://{ingress.host}{PATH}"
    return f"http://{mcp_name(session)}.{session.namespace}.svc{PATH}"


def mcp_deployment(session: Session, config: BuildConfig, config_hash: str) -> dict:
    spec = session.spec.mcp
    name = mcp_name(session)
    container = coedit_container(
        session, config, "mcp",
        [
            *config_env(session, "COEDIT_TEXT_NODES", "COEDIT_CHAT_URL", "COEDIT_ANALYTICS_URL"),
            auth_token_env(session),
            env("COEDIT_MCP_TOKENS_FILE", f"{TOKENS_DIR}/tokens"),
            env("COEDIT_WRITES_PER_MINUTE", str(spec.writes_per_minute)),
        ],
        resources(spec.resources, {"cpu": "50m", "memory": "128Mi"}, {"memory": "256Mi"}),
    )
    container["volumeMounts"].append({"name": "tokens", "mountPath": TOKENS_DIR, "readOnly": True})
    tokens = {"name": "tokens", "secret": {
        "secretName": spec.tokens_secret.name, "items": [{"key": spec.tokens_secret.key, "path": "tokens"}],
        "defaultMode": 0o440,
    }}
    template = pod_template(session, config, metadata(session, name, consts.MCP)["labels"], [container],
                            [tmp_volume(), tokens], config_hash)
    return deployment(session, name, consts.MCP, spec.replicas, selector_labels(session, consts.MCP), template)


def mcp_ingress(session: Session) -> dict:
    """The web UI's Ingress (same host, class, TLS and annotations) with the one path /mcp."""
    ingress = web_ingress(session)
    ingress["metadata"] = {**metadata(session, mcp_name(session), consts.MCP),
                           **({"annotations": ingress["metadata"]["annotations"]}
                              if "annotations" in ingress["metadata"] else {})}
    backend = {"service": {"name": mcp_name(session), "port": {"name": "http"}}}
    ingress["spec"]["rules"][0]["http"]["paths"] = [{"path": PATH, "pathType": "Prefix", "backend": backend}]
    return ingress


def mcp_network_policy(session: Session) -> dict:
    """Outside clients (and the ingress controller) may reach the MCP pods' HTTP port."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(session, child_name(session, "mcp"), consts.MCP),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(session, consts.MCP)},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": consts.HTTP_PORT}]}],
        },
    }


def mcp_objects(session: Session, config: BuildConfig, config_hash: str) -> list[dict]:
    if not session.spec.mcp.enabled:
        return []
    objects = [
        mcp_network_policy(session),
        service(session, mcp_name(session), consts.MCP, selector_labels(session, consts.MCP), 80, "http"),
        mcp_deployment(session, config, config_hash),
    ]
    return [*objects, mcp_ingress(session)] if session.spec.ingress.host else objects
