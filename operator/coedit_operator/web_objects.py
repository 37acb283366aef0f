"""The web UI: Deployment, Service and (with `spec.ingress.host`) an Ingress."""

from coedit_operator import consts
from coedit_operator.common_objects import (
    auth_token_env, child_name, coedit_container, config_env, deployment, metadata, pod_template, resources,
    selector_labels, service,
)
from coedit_operator.config import BuildConfig
from coedit_operator.spec import Session


def web_name(session: Session) -> str:
    return child_name(session, "web")


def web_url(session: Session) -> str:
    """Where people read the session: the Ingress host, else the in-cluster Service."""
    ingress = session.spec.ingress
    if ingress.host:
        return f"{'https' if ingress.tls else 'http'}://{ingress.host}/"
    return f"http://{web_name(session)}.{session.namespace}.svc/"


def behind_ingress_env(session: Session) -> list[dict]:
    """Behind the Ingress every person comes from the ingress controller's address, so
    the web's caps per client (live streams) would be one share for all: the client is
    who X-Forwarded-For names. The web's port is open in the cluster (its NetworkPolicy),
    so a pod there could name any client: that only spreads it over more shares of the
    cap in all, which still holds."""
    return [{"name": "COEDIT_FORWARDED_ALLOW_IPS", "value": "*"}] if session.spec.ingress.host else []


def web_deployment(session: Session, config: BuildConfig, config_hash: str) -> dict:
    name = web_name(session)
    container = coedit_container(
        session, config, "web",
        # the session's token: people sign in with it, and the web relays their writes with it
        [*config_env(session, "COEDIT_TEXT_NODES", "COEDIT_CHAT_URL", "COEDIT_ANALYTICS_URL", "COEDIT_TITLE"),
         auth_token_env(session), *behind_ingress_env(session)],
        resources(session.spec.web.resources, {"cpu": "50m", "memory": "128Mi"}, {"memory": "256Mi"}),
    )
    template = pod_template(session, config, metadata(session, name, consts.WEB)["labels"], [container],
                            [{"name": "tmp", "emptyDir": {}}], config_hash)
    return deployment(session, name, consts.WEB, session.spec.web.replicas, selector_labels(session, consts.WEB), template)


def web_ingress(session: Session) -> dict:
    spec = session.spec.ingress
    meta = metadata(session, web_name(session), consts.WEB)
    if spec.annotations:
        meta["annotations"] = dict(spec.annotations)
    backend = {"service": {"name": web_name(session), "port": {"name": "http"}}}
    ingress_spec: dict = {
        "rules": [{"host": spec.host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}],
    }
    if spec.class_name:
        ingress_spec["ingressClassName"] = spec.class_name
    if spec.tls:
        ingress_spec["tls"] = [{"hosts": [spec.host], "secretName": spec.tls.secret_name}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": ingress_spec}


def web_objects(session: Session, config: BuildConfig, config_hash: str) -> list[dict]:
    objects = [
        service(session, web_name(session), consts.WEB, selector_labels(session, consts.WEB), 80, "http"),
        web_deployment(session, config, config_hash),
    ]
    return [*objects, web_ingress(session)] if session.spec.ingress.host else objects
