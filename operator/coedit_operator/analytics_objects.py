"""Analytics: its PostgreSQL (StatefulSet, PVC, Service; password in the session
Secret) and the analytics service (Deployment, Service)."""

from coedit_operator import consts
from coedit_operator.common_objects import (
    agent_tokens_env, auth_token_env, child_name, coedit_container, deployment, env, metadata, pod_template, pvc_template,
    resources, secret_env, secret_name, selector_labels, service, stateful_set,
)
from coedit_operator.config import BuildConfig
from coedit_operator.spec import Session
from coedit_operator.text_node_objects import postgres_container, postgres_volumes


def analytics_name(session: Session) -> str:
    return child_name(session, "analytics")


def analytics_db_name(session: Session) -> str:
    return child_name(session, "analytics", "db")


def analytics_url(session: Session) -> str:
    return f"http://{analytics_name(session)}:{consts.HTTP_PORT}"


def postgres_password_env(session: Session) -> dict:
    return secret_env("POSTGRES_PASSWORD", secret_name(session), consts.SECRET_POSTGRES_PASSWORD)


def analytics_db_stateful_set(session: Session, config: BuildConfig) -> dict:
    spec = session.spec.analytics.postgres
    name = analytics_db_name(session)
    container = postgres_container(spec, [postgres_password_env(session)], [])
    selector = selector_labels(session, consts.ANALYTICS_DB)
    template = pod_template(session, config, metadata(session, name, consts.ANALYTICS_DB)["labels"], [container],
                            postgres_volumes(), None, spec.run_as_user)
    return stateful_set(session, name, consts.ANALYTICS_DB, name, selector, template, [pvc_template(spec.storage)])


def analytics_deployment(session: Session, config: BuildConfig, config_hash: str) -> dict:
    name = analytics_name(session)
    database_url = f"postgresql://postgres:$(POSTGRES_PASSWORD)@{analytics_db_name(session)}:{consts.POSTGRES_PORT}/postgres"
    container = coedit_container(
        session, config, "analytics",
        [postgres_password_env(session), env("COEDIT_DATABASE_URL", database_url), auth_token_env(session),
         *agent_tokens_env(session)],
        resources(session.spec.analytics.resources, {"cpu": "50m", "memory": "128Mi"}, {"memory": "256Mi"}),
    )
    template = pod_template(session, config, metadata(session, name, consts.ANALYTICS)["labels"], [container],
                            [{"name": "tmp", "emptyDir": {}}], config_hash)
    return deployment(session, name, consts.ANALYTICS, 1, selector_labels(session, consts.ANALYTICS), template)


def analytics_objects(session: Session, config: BuildConfig, config_hash: str) -> list[dict]:
    return [
        service(session, analytics_db_name(session), consts.ANALYTICS_DB, selector_labels(session, consts.ANALYTICS_DB),
                consts.POSTGRES_PORT, "postgres"),
        analytics_db_stateful_set(session, config),
        service(session, analytics_name(session), consts.ANALYTICS, selector_labels(session, consts.ANALYTICS),
                consts.HTTP_PORT, "http"),
        analytics_deployment(session, config, config_hash),
    ]
