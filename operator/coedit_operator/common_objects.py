"""Small pure helpers shared by the `*_objects.py` builders: names, labels,
security contexts, resources, env vars and probes."""

from coedit.common.agent_tokens import GROUP
from coedit_operator import consts
from coedit_operator.config import BuildConfig
from coedit_operator.spec import Resources, Session


def child_name(session: Session, *parts: str) -> str:
    return "-".join((session.name, *parts))


def selector_labels(session: Session, component: str, **extra: str) -> dict[str, str]:
    return {consts.LABEL_INSTANCE: session.name, consts.LABEL_COMPONENT: component, **extra}


def labels(session: Session, component: str, **extra: str) -> dict[str, str]:
    return {
        consts.LABEL_NAME: consts.APP_NAME,
        consts.LABEL_PART_OF: consts.APP_NAME,
        consts.LABEL_MANAGED_BY: consts.OPERATOR_NAME,
        **selector_labels(session, component, **extra),
    }


def metadata(session: Session, name: str, component: str, **extra_labels: str) -> dict:
    return {"name": name, "namespace": session.namespace, "labels": labels(session, component, **extra_labels)}


def resources(spec: Resources, requests: dict[str, str], limits: dict[str, str]) -> dict:
    """The spec's values, each key falling back to the component's default."""
    return {"requests": {**requests, **(spec.requests or {})}, "limits": {**limits, **(spec.limits or {})}}


def pod_security_context(run_as_user: int) -> dict:
    """The restricted Pod Security profile, at pod level."""
    return {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "runAsGroup": run_as_user,
        "fsGroup": run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context(run_as_user: int | None = None) -> dict:
    context = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if run_as_user is not None:
        context |= {"runAsUser": run_as_user, "runAsGroup": run_as_user}
    return context


def env(name: str, value: str) -> dict:
    return {"name": name, "value": value}


def secret_env(name: str, secret: str, key: str, optional: bool = False) -> dict:
    ref = {"name": secret, "key": key} | ({"optional": True} if optional else {})
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def config_env(session: Session, *keys: str) -> list[dict]:
    """Env vars taken from the session's ConfigMap, under the same names."""
    return [{"name": key, "valueFrom": {"configMapKeyRef": {"name": config_map_name(session), "key": key}}} for key in keys]


def secret_name(session: Session) -> str:
    return child_name(session, "internal")


def config_map_name(session: Session) -> str:
    return child_name(session, "config")


def auth_token_env(session: Session) -> dict:
    return secret_env("COEDIT_AUTH_TOKEN", secret_name(session), consts.SECRET_AUTH_TOKEN)


def agent_token_secret_name(session: Session, group: str) -> str:
    return child_name(session, "agent", group, "token")


def agent_token_env(session: Session, group: str) -> dict:
    """An agent's credential: its group's own token, never the session's."""
    return secret_env("COEDIT_AUTH_TOKEN", agent_token_secret_name(session, group), consts.SECRET_AGENT_TOKEN)


def agent_id_env(group: str) -> list[dict]:
    """An agent's id, `<group>/<pod name>`: one of its group's members, which the
    group's token may write as (and no other group's)."""
    return [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            env("COEDIT_AGENT_ID", f"{group}/$(POD_NAME)")]


def agent_tokens_env(session: Session) -> list[dict]:
    """COEDIT_AGENT_TOKENS of a service agents write to (text node, chat, analytics):
    each group's token, from its Secret, as the group's (`<group>/*`). Kubernetes expands
    the `$(...)`; a group added or removed changes the pod template, so the pods roll."""
    groups = [group.name for group in session.spec.agents.groups]
    refs = [secret_env(f"AGENT_TOKEN_{i}", agent_token_secret_name(session, group), consts.SECRET_AGENT_TOKEN)
            for i, group in enumerate(groups)]
    return [*refs, env("COEDIT_AGENT_TOKENS", ",".join(f"{group}{GROUP}=$(AGENT_TOKEN_{i})"
                                                       for i, group in enumerate(groups)))]


def telemetry_env(session: Session, service: str) -> list[dict]:
    endpoint = session.spec.telemetry.otlp_endpoint
    if endpoint is None:
        return [env("OTEL_SERVICE_NAME", service), env("OTEL_TRACES_EXPORTER", "none")]
    return [env("OTEL_SERVICE_NAME", service), env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)]


def image(session: Session, config: BuildConfig) -> str:
    return session.spec.image or config.image


def http_probes(port: str = "http") -> dict:
    """Readiness orders start-up (a text node is ready once migrated and caught up)."""
    return {
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": port},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": port},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
    }


def tmp_volume(name: str = "tmp") -> dict:
    return {"name": name, "emptyDir": {}}


def coedit_container(
    session: Session,
    config: BuildConfig,
    command: str,
    env_vars: list[dict],
    resources_: dict,
    serves_http: bool = True,
) -> dict:
    """A container of the coedit image running `coedit <command>`; flags come as COEDIT_* env vars."""
    container = {
        "name": command,
        "image": image(session, config),
        "imagePullPolicy": config.image_pull_policy,
        "command": ["coedit", command],
        "env": [*env_vars, *telemetry_env(session, f"coedit-{command}")],
        "resources": resources_,
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if serves_http:
        container["env"] = [env("COEDIT_HOST", "0.0.0.0"), env("COEDIT_PORT", str(consts.HTTP_PORT)), *container["env"]]
        container["ports"] = [{"name": "http", "containerPort": consts.HTTP_PORT, "protocol": "TCP"}]
        container |= http_probes()
    return container


def pod_template(session: Session, config: BuildConfig, pod_labels: dict, containers: list[dict],
                 volumes: list[dict], config_hash: str | None, run_as_user: int | None = None) -> dict:
    annotations = {consts.ANNOTATION_CONFIG_HASH: config_hash} if config_hash else {}
    return {
        "metadata": {"labels": pod_labels, **({"annotations": annotations} if annotations else {})},
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": pod_security_context(run_as_user or config.run_as_user),
            "containers": containers,
            "volumes": volumes,
        },
    }


def service(session: Session, name: str, component: str, selector: dict, port: int, target: str | int,
            headless: bool = False, **extra_labels: str) -> dict:
    spec = {
        "selector": selector,
        "ports": [{"name": "http" if target == "http" else str(target), "port": port, "targetPort": target, "protocol": "TCP"}],
    }
    if headless:
        # Peers must find each other before they are ready: a node is ready only after catching up.
        spec |= {"clusterIP": "None", "publishNotReadyAddresses": True}
    else:
        spec["type"] = "ClusterIP"
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata(session, name, component, **extra_labels), "spec": spec}


def pvc_template(storage_spec, name: str = "data") -> dict:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage_spec.size}}}
    if storage_spec.storage_class_name:
        spec["storageClassName"] = storage_spec.storage_class_name
    return {"metadata": {"name": name}, "spec": spec}


def stateful_set(session: Session, name: str, component: str, service_name: str, selector: dict,
                 template: dict, claims: list[dict], **extra_labels: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(session, name, component, **extra_labels),
        "spec": {
            "replicas": 1,
            "serviceName": service_name,
            "selector": {"matchLabels": selector},
            "podManagementPolicy": "Parallel",
            "template": template,
            "volumeClaimTemplates": claims,
        },
    }


def deployment(session: Session, name: str, component: str, replicas: int, selector: dict, template: dict,
               **extra_labels: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(session, name, component, **extra_labels),
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector}, "template": template},
    }
