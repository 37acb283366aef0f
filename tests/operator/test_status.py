"""The status module alone: phases, conditions and their transition times."""

from coedit_operator.objects import desired_objects
from coedit_operator.reader import TextReading
from coedit_operator.spec import parse_session
from coedit_operator.status import Child, build_status, failed_status, status_changes, status_dict
from tests.operator.helpers import CONFIG, body

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"


def children(session, ready: bool | None) -> list[Child]:
    """None: nothing exists; False: all exist, none ready; True: all ready."""
    result = []
    for obj in desired_objects(session, CONFIG):
        live = None
        if ready is not None:
            replicas = obj.get("spec", {}).get("replicas", 0) if obj["kind"] in ("Deployment", "StatefulSet") else 0
            live = {**obj, "status": {"replicas": replicas, "readyReplicas": replicas if ready else 0}}
        result.append(Child(obj, live))
    return result


def with_status(raw: dict, status) -> dict:
    return {**raw, "status": status_dict(status)}


def test_the_phases_follow_the_children():
    raw = body()
    session = parse_session(raw)
    assert build_status(session, children(session, None), None, T0).phase == "Pending"
    provisioning = build_status(session, children(session, False), None, T0)
    assert provisioning.phase == "Provisioning"
    running = build_status(parse_session(with_status(raw, provisioning)), children(session, True), None, T1)
    assert running.phase == "Running" and running.agents.summary == "3/3"
    degraded = build_status(parse_session(with_status(raw, running)), children(session, False), None, T1)
    assert degraded.phase == "Degraded"


def test_a_condition_keeps_its_transition_time_until_it_flips():
    raw = body()
    session = parse_session(raw)
    first = build_status(session, children(session, False), None, T0)
    again = build_status(parse_session(with_status(raw, first)), children(session, False), None, T1)
    assert status_changes(status_dict(first), again) == {}  # nothing to write
    flipped = build_status(parse_session(with_status(raw, again)), children(session, True), None, T1)
    ready = next(c for c in flipped.conditions if c.type == "Ready")
    assert ready.status == "True" and ready.last_transition_time == T1
    progressing = next(c for c in flipped.conditions if c.type == "Progressing")
    assert progressing.status == "False"


def test_a_spent_budget_completes_the_session():
    session = parse_session(body(budget={"tokens": 500}))
    status = build_status(session, children(session, True), TextReading(spent=510, limit=500, version=9), T0)
    assert status.phase == "Completed"
    assert status.tokens.summary == "510/500" and status.document_version == 9
    assert next(c for c in status.conditions if c.type == "BudgetExhausted").status == "True"


def test_the_first_stop_condition_completes_the_session_with_its_reason():
    raw = body(budget={"tokens": 500, "maxVersions": 10, "maxDuration": "1m"})
    raw["metadata"]["creationTimestamp"] = T0
    session = parse_session(raw)
    running = build_status(session, children(session, True), TextReading(spent=400, limit=500, version=9), T0)
    assert running.phase == "Running" and running.completion is None
    versions = build_status(session, children(session, True), TextReading(spent=400, limit=500, version=10), T0)
    assert (versions.phase, versions.completion.reason) == ("Completed", "MaxVersions")
    assert versions.message == "the document reached 10 versions; agents stopped"
    timed = build_status(session, children(session, True), TextReading(spent=400, limit=500, version=9), T1)
    assert (timed.phase, timed.completion.reason) == ("Completed", "MaxDuration")
    refused = TextReading(spent=480, limit=500, version=3, exhausted=True)  # the nodes refused for lack of budget
    spent = build_status(session, children(session, True), refused, T0)
    assert spent.completion.reason == "BudgetExhausted"
    assert next(c for c in spent.conditions if c.type == "Progressing").reason == "BudgetExhausted"
    # no node answers: what was seen last holds
    later = build_status(parse_session(with_status(raw, spent)), children(session, True), None, T0)
    assert later.completion.reason == "BudgetExhausted"


def test_an_invalid_spec_is_failed_with_its_reason():
    status = failed_status(parse_session(body()).status, "spec.x: bad", T0, 3)
    assert status.phase == "Failed" and status.observed_generation == 3
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason, ready.message) == ("False", "InvalidSpec", "spec.x: bad")
