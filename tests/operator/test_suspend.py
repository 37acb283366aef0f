"""spec.suspend without a cluster: what the operator asks of the chat, the agents'
replicas, the Suspended condition, the NetworkPolicy, and the chat pauser against a
stub chat on loopback."""

import base64

import pytest

from coedit.chat.client import ServiceError
from coedit_operator import consts
from coedit_operator.objects import desired_objects
from coedit_operator.spec import Completion, parse_session
from coedit_operator.status import build_status, status_dict
from coedit_operator.suspend import ChatTeller, Told, wanted_pause
from tests.operator.emulator import TextService
from tests.operator.helpers import CONFIG, body
from tests.operator.test_status import T0, T1, children

SECRET_TOKEN = "the-session-token"


def agent_replicas(session) -> int:
    return sum(obj["spec"]["replicas"] for obj in desired_objects(session, CONFIG)
               if obj["metadata"]["labels"][consts.LABEL_COMPONENT] == consts.AGENT)


def suspended(status) -> tuple[str, str]:
    found = next(c for c in status.conditions if c.type == "Suspended")
    return found.status, found.reason


def test_suspend_scales_the_agents_to_zero_and_false_brings_them_back():
    assert agent_replicas(parse_session(body(agents={"replicas": 5}))) == 5
    assert agent_replicas(parse_session(body(agents={"replicas": 5}, suspend=True))) == 0
    assert agent_replicas(parse_session(body(agents={"replicas": 5}, suspend=False))) == 5


def test_the_operator_resumes_only_a_pause_it_made():
    raw = body(suspend=True)
    session = parse_session(raw)
    assert wanted_pause(session) is True
    first = build_status(session, children(session, True), None, T0, Told(True))
    assert suspended(first) == ("True", "Suspended")
    assert "suspended" in first.message
    lifted = parse_session({**body(suspend=False), "status": status_dict(first)})
    assert wanted_pause(lifted) is False  # the operator paused it: it resumes it
    resumed = build_status(lifted, children(lifted, True), None, T1, Told(False))
    assert suspended(resumed) == ("False", "NotSuspended")
    after = parse_session({**body(suspend=False), "status": status_dict(resumed)})
    assert wanted_pause(after) is None  # a person's own pause from the web stands
    assert wanted_pause(parse_session(body())) is None


def test_a_chat_that_cannot_be_told_is_retried_and_said_in_the_condition():
    session = parse_session(body(suspend=True))
    pending = build_status(session, children(session, True), None, T0, Told(True, "the chat is not ready"))
    assert suspended(pending) == ("False", "Suspending")
    assert "not ready" in next(c for c in pending.conditions if c.type == "Suspended").message
    retried = parse_session({**body(suspend=True), "status": status_dict(pending)})
    assert wanted_pause(retried) is True
    lifted = parse_session({**body(suspend=False), "status": status_dict(pending)})
    assert wanted_pause(lifted) is False  # it may have reached the chat: resume to be sure
    stuck = build_status(lifted, children(lifted, True), None, T1, Told(False, "chat: HTTP 503"))
    assert suspended(stuck) == ("True", "Resuming")
    assert wanted_pause(parse_session({**body(suspend=False), "status": status_dict(stuck)})) is False


def test_the_operator_may_reach_the_chat_as_well_as_the_text_nodes():
    objects = {f"{o['kind']}/{o['metadata']['name']}": o for o in desired_objects(parse_session(body()), CONFIG)}
    selector = objects["NetworkPolicy/demo-operator"]["spec"]["podSelector"]
    assert selector["matchLabels"] == {consts.LABEL_INSTANCE: "demo"}
    assert selector["matchExpressions"] == [
        {"key": consts.LABEL_COMPONENT, "operator": "In", "values": [consts.TEXT_NODE, consts.CHAT]}]


class SecretReader:
    """The one Kubernetes call the pauser makes: reading the session's Secret."""

    def __init__(self):
        self.gets = []

    async def get(self, obj: dict) -> dict:
        self.gets.append((obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]))
        return {**obj, "data": {consts.SECRET_AUTH_TOKEN: base64.b64encode(SECRET_TOKEN.encode()).decode()}}


@pytest.fixture
async def chat():
    service = await TextService(chat_token=SECRET_TOKEN).start()
    yield service
    await service.stop()


async def test_the_pauser_writes_only_a_change_with_the_sessions_token(chat):
    kube = SecretReader()
    pauser = ChatTeller(f"{chat.url}/chat/{{name}}", kube)
    session = parse_session(body(suspend=True))
    try:
        await pauser(session, True)
        assert chat.paused and chat.changed_by == "operator"
        assert chat.chat_tokens == [f"Bearer {SECRET_TOKEN}"] and kube.gets == [("Secret", "ns", "demo-internal")]
        await pauser(session, True)  # already paused: one GET, no write, no Secret read
        assert len(chat.chat_tokens) == 1 and len(kube.gets) == 1
        await pauser(session, False)
        assert not chat.paused and len(chat.chat_tokens) == 2
        chat.chat_token = "another"
        with pytest.raises(ServiceError):
            await pauser(session, True)
    finally:
        await pauser.close()


async def test_the_completion_is_told_once(chat):
    kube = SecretReader()
    teller = ChatTeller(f"{chat.url}/chat/{{name}}", kube)
    session = parse_session(body())
    try:
        await teller.announce(session, Completion(reason="MaxDuration", message="the session ran its 1h"))
        assert chat.completion == {"reason": "MaxDuration", "message": "the session ran its 1h"}
        assert chat.chat_tokens == [f"Bearer {SECRET_TOKEN}"]
        await teller.announce(session, Completion(reason="MaxVersions", message="later"))  # told: one GET
        assert len(chat.chat_tokens) == 1 and chat.completion["reason"] == "MaxDuration"
    finally:
        await teller.close()
