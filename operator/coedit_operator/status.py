"""The session's status, built in one place: phase, standard conditions and the
figures `kubectl get ces` shows, from the children's live state and the text
service's reading. Pure: the caller supplies the clock."""

from dataclasses import dataclass

from coedit_operator import consts
from coedit_operator.agent_objects import agent_selector
from coedit_operator.reader import TextReading
from coedit_operator.mcp_objects import mcp_url
from coedit_operator.spec import AgentCounts, Completion, Condition, Counts, Session, SessionStatus, Tokens
from coedit_operator.suspend import SUSPENDED, Told, suspended_state
from coedit_operator.stopping import budget_spent, elapsed_seconds, stop_reason, token_limit
from coedit_operator.web_objects import web_url

WORKLOADS = {"Deployment", "StatefulSet"}


@dataclass(frozen=True)
class Child:
    desired: dict
    live: dict | None

    @property
    def kind(self) -> str:
        return self.desired["kind"]

    @property
    def name(self) -> str:
        return self.desired["metadata"]["name"]

    @property
    def component(self) -> str:
        return self.desired["metadata"]["labels"][consts.LABEL_COMPONENT]

    @property
    def wanted(self) -> int:
        return self.desired["spec"]["replicas"]

    def status_count(self, field: str) -> int:
        return int(((self.live or {}).get("status") or {}).get(field) or 0)

    @property
    def ready(self) -> bool:
        return self.live is not None and (self.kind not in WORKLOADS or self.status_count("readyReplicas") >= self.wanted)


def condition(previous: SessionStatus, type_: str, status: bool, reason: str, message: str, now: str,
              generation: int | None) -> Condition:
    """A condition whose lastTransitionTime moves only when its status flips."""
    value = "True" if status else "False"
    old = next((c for c in previous.conditions if c.type == type_), None)
    since = old.last_transition_time if old is not None and old.status == value else now
    return Condition(type=type_, status=value, reason=reason, message=message, last_transition_time=since,
                     observed_generation=generation)


def tokens(session: Session, reading: TextReading | None) -> Tokens:
    used = reading.spent if reading else session.status.tokens.used
    limit = token_limit(session.spec)
    return Tokens(used=used, limit=limit, summary=f"{used}/{limit}")


def completion(session: Session, reading: TextReading | None, now: str) -> Completion | None:
    """The first stop condition met, from the text service's reading (or, when no
    node answers, what the status last showed for the same limit)."""
    previous, token_status = session.status, tokens(session, reading)
    if reading is not None:
        exhausted, version = reading.exhausted, reading.version
    else:
        exhausted = budget_spent(previous.completion) and token_status.limit == previous.tokens.limit
        version = previous.document_version
    return stop_reason(session.spec, used=token_status.used, exhausted=exhausted, version=version,
                       elapsed=elapsed_seconds(session.created, now))


def build_status(session: Session, children: list[Child], reading: TextReading | None, now: str,
                 told: Told | None = None) -> SessionStatus:
    previous = session.status
    token_status = tokens(session, reading)
    done = completion(session, reading, now)
    exhausted = budget_spent(done)
    workloads = [child for child in children if child.kind in WORKLOADS]
    agents = [child for child in workloads if child.component == consts.AGENT]
    nodes = [child for child in workloads if child.component == consts.TEXT_NODE]
    desired_agents = sum(child.wanted for child in agents)
    ready_agents = sum(child.status_count("readyReplicas") for child in agents)
    not_ready = [child.name for child in children if not child.ready]
    ready = not not_ready

    if done is not None:
        phase, message = consts.COMPLETED, f"{done.message}; agents stopped"
    elif session.spec.suspend and ready:
        phase, message = consts.RUNNING, "suspended (spec.suspend): paused, agents scaled to 0"
    elif all(child.live is None for child in children):
        phase, message = consts.PENDING, "creating the children"
    elif ready:
        phase, message = consts.RUNNING, "all children are ready"
    else:
        phase = consts.DEGRADED if previous.phase in (consts.RUNNING, consts.DEGRADED) else consts.PROVISIONING
        shown = ", ".join(not_ready[:5]) + (f" and {len(not_ready) - 5} more" if len(not_ready) > 5 else "")
        message = f"not ready: {shown}"

    generation = session.generation
    conditions = [
        condition(previous, "Ready", ready, "AllReady" if ready else "ChildrenNotReady", message, now, generation),
        condition(previous, "Progressing", not ready and done is None,
                  done.reason if done else ("Stable" if ready else phase), message, now, generation),
        condition(previous, "BudgetExhausted", exhausted, "TokensSpent" if exhausted else "WithinBudget",
                  f"{token_status.summary} tokens used", now, generation),
        condition(previous, SUSPENDED, *suspended_state(session.spec.suspend, told), now, generation),
    ]
    return SessionStatus(
        phase=phase,
        message=message,
        conditions=conditions,
        observed_generation=generation,
        document_version=reading.version if reading else previous.document_version,
        tokens=token_status,
        completion=done,
        nodes=Counts(ready=sum(child.ready for child in nodes), desired=len(nodes)),
        agents=AgentCounts(
            ready=ready_agents, desired=desired_agents, replicas=sum(child.status_count("replicas") for child in agents),
            selector=agent_selector(session), summary=f"{ready_agents}/{desired_agents}",
        ),
        url=web_url(session),
        mcp_url=mcp_url(session) if session.spec.mcp.enabled else None,
    )


def failed_status(session_status: SessionStatus, message: str, now: str, generation: int | None) -> SessionStatus:
    """An invalid spec: nothing is applied until it is fixed."""
    conditions = [
        condition(session_status, "Ready", False, "InvalidSpec", message, now, generation),
        condition(session_status, "Progressing", False, "InvalidSpec", message, now, generation),
    ]
    kept = [c for c in session_status.conditions if c.type == "BudgetExhausted"]
    return session_status.model_copy(update={
        "phase": consts.FAILED, "message": message, "conditions": conditions + kept, "observed_generation": generation,
    })


def status_dict(status: SessionStatus) -> dict:
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")


def status_changes(old: dict | None, new: SessionStatus) -> dict:
    """The top-level status fields that differ (empty: write nothing)."""
    old = old or {}
    return {key: value for key, value in status_dict(new).items() if old.get(key) != value}
