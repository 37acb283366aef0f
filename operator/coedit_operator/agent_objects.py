"""One Deployment per agent group. `spec.agents.replicas` (the scale subresource)
is spread over the groups by weight; all are zero once the session completed or
while it is suspended (`spec.suspend`). A group's agents hold its own token (its
Secret), not the session's: they write as `<group>/<pod>` only."""

from coedit_operator import consts
from coedit_operator.common_objects import (
    agent_id_env, agent_token_env, child_name, coedit_container, config_env, deployment, env, metadata, pod_template,
    resources, secret_env, selector_labels,
)
from coedit_operator.config import BuildConfig
from coedit_operator.spec import AgentGroup, Session


def spread(total: int, weights: list[int]) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainder; ties go to the earlier group)."""
    whole = sum(weights)
    shares = [total * weight // whole for weight in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in remainders[: total - sum(shares)]:
        shares[i] += 1
    return shares


def group_replicas(session: Session, completed: bool) -> dict[str, int]:
    groups = session.spec.agents.groups
    stopped = completed or session.spec.suspend
    counts = spread(0 if stopped else session.spec.agents.replicas, [group.weight for group in groups])
    return {group.name: count for group, count in zip(groups, counts)}


def agent_name(session: Session, group: str) -> str:
    return child_name(session, "agent", group)


def agent_selector(session: Session) -> str:
    """The label selector of all agent pods, as the scale subresource reports it."""
    return ",".join(f"{key}={value}" for key, value in selector_labels(session, consts.AGENT).items())


def agent_deployment(session: Session, config: BuildConfig, group: AgentGroup, replicas: int, config_hash: str) -> dict:
    spec = session.spec
    name = agent_name(session, group.name)
    key = spec.llm.api_key_secret
    container = coedit_container(
        session, config, "agent",
        [
            *agent_id_env(group.name),
            env("COEDIT_PERSONA", group.persona),
            *config_env(session, "COEDIT_TEXT_NODES", "COEDIT_CHAT_URL", "COEDIT_ANALYTICS_URL", "COEDIT_TOPIC",
                        "COEDIT_LANGUAGE"),
            env("COEDIT_LLM_BASE_URL", spec.llm.base_url),
            env("COEDIT_MODEL", group.model or spec.llm.model),
            env("COEDIT_PRICE_INPUT", str(spec.prices(group)[0])),
            env("COEDIT_PRICE_OUTPUT", str(spec.prices(group)[1])),
            agent_token_env(session, group.name),
            *([secret_env("OPENAI_API_KEY", key.name, key.key)] if key else []),
        ],
        resources(spec.agents.resources, {"cpu": "50m", "memory": "128Mi"}, {"memory": "256Mi"}),
        serves_http=False,
    )
    group_label = {consts.LABEL_AGENT_GROUP: group.name}
    selector = selector_labels(session, consts.AGENT, **group_label)
    template = pod_template(session, config, metadata(session, name, consts.AGENT, **group_label)["labels"],
                            [container], [{"name": "tmp", "emptyDir": {}}], config_hash)
    return deployment(session, name, consts.AGENT, replicas, selector, template, **group_label)


def agent_objects(session: Session, config: BuildConfig, config_hash: str, completed: bool) -> list[dict]:
    replicas = group_replicas(session, completed)
    return [
        agent_deployment(session, config, group, replicas[group.name], config_hash)
        for group in session.spec.agents.groups
    ]
