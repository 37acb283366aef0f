"""Per text node: a StatefulSet (text node + its own PostgreSQL, one PVC) and a
headless Service; plus the PodDisruptionBudget over all of them."""

from coedit_operator import consts
from coedit_operator.common_objects import (
    agent_tokens_env, auth_token_env, child_name, coedit_container, config_env, container_security_context, env, metadata,
    pod_template, pvc_template, resources, selector_labels, service, stateful_set, tmp_volume,
)
from coedit_operator.config import BuildConfig
from coedit_operator.spec import Postgres, Session

LOCAL_DATABASE_URL = f"postgresql://postgres@127.0.0.1:{consts.POSTGRES_PORT}/postgres"
PGDATA = "/var/lib/postgresql/data/pgdata"
POSTGRES_STARTUP_SECONDS = 3600  # as CloudNativePG's default startDelay


def node_ids(session: Session) -> list[str]:
    return list(consts.NODE_IDS[: session.spec.text_nodes.count])


def text_node_name(session: Session, node_id: str) -> str:
    return child_name(session, "text", node_id)


def text_node_url(session: Session, node_id: str) -> str:
    return f"http://{text_node_name(session, node_id)}:{consts.HTTP_PORT}"


def text_node_urls(session: Session) -> list[str]:
    return [text_node_url(session, node_id) for node_id in node_ids(session)]


def postgres_container(postgres: Postgres, env_vars: list[dict], args: list[str]) -> dict:
    """The official PostgreSQL image, non-root, read-only root fs (socket dir and /tmp are emptyDirs)."""
    ready = ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"]
    probe = {"exec": {"command": ready}, "timeoutSeconds": 5}
    return {
        "name": "postgres",
        "image": postgres.image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": [env("PGDATA", PGDATA), *env_vars],
        "ports": [{"name": "postgres", "containerPort": consts.POSTGRES_PORT, "protocol": "TCP"}],
        "resources": resources(postgres.resources, {"cpu": "100m", "memory": "256Mi"}, {"memory": "512Mi"}),
        "securityContext": container_security_context(postgres.run_as_user),
        # Crash recovery replays the WAL before PostgreSQL accepts connections: up to
        # POSTGRES_STARTUP_SECONDS pass before the liveness probe may restart it.
        "startupProbe": {**probe, "periodSeconds": 10, "failureThreshold": POSTGRES_STARTUP_SECONDS // 10},
        "readinessProbe": {**probe, "periodSeconds": 5, "timeoutSeconds": 3},
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 6},
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/postgresql/data"},
            {"name": "pg-run", "mountPath": "/var/run/postgresql"},
            {"name": "pg-tmp", "mountPath": "/tmp"},
        ],
    }


def text_node_affinity(session: Session) -> dict:
    """Keep a session's text nodes apart (another node, or zone), so one machine going
    down takes at most one replica: preferred by default, required on request."""
    spec = session.spec.text_nodes.affinity
    term = {"labelSelector": {"matchLabels": selector_labels(session, consts.TEXT_NODE)},
            "topologyKey": spec.topology_key}
    if spec.pod_anti_affinity_type == "required":
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": term}]}}


def postgres_volumes() -> list[dict]:
    return [tmp_volume("pg-run"), tmp_volume("pg-tmp")]


def text_node_stateful_set(session: Session, config: BuildConfig, node_id: str, config_hash: str) -> dict:
    spec = session.spec.text_nodes
    name = text_node_name(session, node_id)
    peers = ",".join(url for other in node_ids(session) if other != node_id for url in [text_node_url(session, other)])
    node = coedit_container(
        session, config, "text-node",
        [
            env("COEDIT_NODE_ID", node_id),
            env("COEDIT_DATABASE_URL", LOCAL_DATABASE_URL),
            env("COEDIT_PEERS", peers),
            *config_env(session, "COEDIT_TOKEN_BUDGET", "COEDIT_INITIAL_TEXT"),
            auth_token_env(session),
            *agent_tokens_env(session),
        ],
        resources(spec.resources, {"cpu": "100m", "memory": "256Mi"}, {"memory": "512Mi"}),
    )
    # Only containers in this pod reach this PostgreSQL: it listens on localhost and trusts it.
    postgres = postgres_container(
        spec.postgres, [env("POSTGRES_HOST_AUTH_METHOD", "trust")], ["-c", "listen_addresses=127.0.0.1"]
    )
    selector = selector_labels(session, consts.TEXT_NODE, **{consts.LABEL_TEXT_NODE: node_id})
    pod_labels = metadata(session, name, consts.TEXT_NODE, **{consts.LABEL_TEXT_NODE: node_id})["labels"]
    template = pod_template(session, config, pod_labels, [node, postgres], [tmp_volume(), *postgres_volumes()], config_hash)
    template["spec"]["affinity"] = text_node_affinity(session)
    return stateful_set(session, name, consts.TEXT_NODE, name, selector, template, [pvc_template(spec.postgres.storage)],
                        **{consts.LABEL_TEXT_NODE: node_id})


def text_node_service(session: Session, node_id: str) -> dict:
    name = text_node_name(session, node_id)
    selector = selector_labels(session, consts.TEXT_NODE, **{consts.LABEL_TEXT_NODE: node_id})
    return service(session, name, consts.TEXT_NODE, selector, consts.HTTP_PORT, "http", headless=True,
                   **{consts.LABEL_TEXT_NODE: node_id})


def text_node_pdb(session: Session) -> dict:
    """At most one text node down by a voluntary disruption: the others keep accepting edits."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(session, child_name(session, "text"), consts.TEXT_NODE),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(session, consts.TEXT_NODE)}},
    }


def text_node_objects(session: Session, config: BuildConfig, config_hash: str) -> list[dict]:
    objects = []
    for node_id in node_ids(session):
        objects += [text_node_service(session, node_id), text_node_stateful_set(session, config, node_id, config_hash)]
    return [*objects, text_node_pdb(session)]
