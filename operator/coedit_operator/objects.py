"""Every child of a session, from the parsed CR and the operator's settings (pure)."""

from coedit_operator.agent_objects import agent_objects
from coedit_operator.analytics_objects import analytics_objects
from coedit_operator.chat_objects import chat_objects
from coedit_operator.config import BuildConfig
from coedit_operator.session_objects import config_hash, config_map, network_policies
from coedit_operator.spec import Session
from coedit_operator.text_node_objects import text_node_objects
from coedit_operator.web_objects import web_objects


def budget_exhausted(session: Session) -> bool:
    """As last observed in the status; raising spec.budget.tokens above it lifts it."""
    return session.status.tokens.used >= session.spec.budget.tokens


def desired_objects(session: Session, config: BuildConfig) -> list[dict]:
    """The children the operator applies (the create-once Secret is separate), in start-up order."""
    digest = config_hash(session)
    return [
        config_map(session),
        *network_policies(session, config.metrics_from),
        *text_node_objects(session, config, digest),
        *chat_objects(session, config, digest),
        *analytics_objects(session, config, digest),
        *web_objects(session, config, digest),
        *agent_objects(session, config, digest, budget_exhausted(session)),
    ]
