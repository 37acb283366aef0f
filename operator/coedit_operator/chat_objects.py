"""The chat: Redis (StatefulSet with AOF on, PVC, Service) and the chat service
(Deployment, Service)."""

from coedit_operator import consts
from coedit_operator.common_objects import (
    agent_tokens_env, auth_token_env, child_name, coedit_container, config_env, container_security_context, deployment, env,
    metadata, pod_template, pvc_template, resources, secret_env, secret_name, selector_labels, service,
    stateful_set, tmp_volume,
)
from coedit_operator.config import BuildConfig
from coedit_operator.spec import Session


def redis_name(session: Session) -> str:
    return child_name(session, "redis")


def chat_name(session: Session) -> str:
    return child_name(session, "chat")


def chat_url(session: Session) -> str:
    return f"http://{chat_name(session)}:{consts.HTTP_PORT}"


def redis_password_env(session: Session) -> dict:
    return secret_env("REDIS_PASSWORD", secret_name(session), consts.SECRET_REDIS_PASSWORD)


def redis_stateful_set(session: Session, config: BuildConfig) -> dict:
    spec = session.spec.chat.redis
    name = redis_name(session)
    probe = {"tcpSocket": {"port": "redis"}, "periodSeconds": 5, "timeoutSeconds": 3}
    container = {
        "name": "redis",
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["redis-server"],
        # Every write is appended to the AOF and fsynced each second: a restart loses at most one second.
        "args": ["--appendonly", "yes", "--appendfsync", "everysec", "--dir", "/data",
                 "--requirepass", "$(REDIS_PASSWORD)"],
        "env": [redis_password_env(session)],
        "ports": [{"name": "redis", "containerPort": consts.REDIS_PORT, "protocol": "TCP"}],
        "resources": resources(spec.resources, {"cpu": "50m", "memory": "128Mi"}, {"memory": "512Mi"}),
        "securityContext": container_security_context(spec.run_as_user),
        "readinessProbe": probe,
        "livenessProbe": {**probe, "initialDelaySeconds": 10, "periodSeconds": 10},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    selector = selector_labels(session, consts.REDIS)
    pod_labels = metadata(session, name, consts.REDIS)["labels"]
    template = pod_template(session, config, pod_labels, [container], [tmp_volume()], None, spec.run_as_user)
    return stateful_set(session, name, consts.REDIS, name, selector, template, [pvc_template(spec.storage)])


def chat_deployment(session: Session, config: BuildConfig, config_hash: str) -> dict:
    name = chat_name(session)
    container = coedit_container(
        session, config, "chat",
        [
            redis_password_env(session),
            env("COEDIT_REDIS_URL", f"redis://:$(REDIS_PASSWORD)@{redis_name(session)}:{consts.REDIS_PORT}/0"),
            *config_env(session, "COEDIT_SESSION", "COEDIT_MAX_LEN"),
            auth_token_env(session),
            *agent_tokens_env(session),
        ],
        resources(session.spec.chat.resources, {"cpu": "50m", "memory": "128Mi"}, {"memory": "256Mi"}),
    )
    selector = selector_labels(session, consts.CHAT)
    template = pod_template(session, config, metadata(session, name, consts.CHAT)["labels"], [container],
                            [tmp_volume()], config_hash)
    return deployment(session, name, consts.CHAT, 1, selector, template)


def chat_objects(session: Session, config: BuildConfig, config_hash: str) -> list[dict]:
    return [
        service(session, redis_name(session), consts.REDIS, selector_labels(session, consts.REDIS),
                consts.REDIS_PORT, "redis"),
        redis_stateful_set(session, config),
        service(session, chat_name(session), consts.CHAT, selector_labels(session, consts.CHAT), consts.HTTP_PORT, "http"),
        chat_deployment(session, config, config_hash),
    ]
