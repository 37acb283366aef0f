"""`spec.suspend`: the session paused the way a person pauses it from the web (the
chat's pause state, set through the chat's client, which every agent and the MCP
server look at before each step) and its agents scaled to 0 (agent_objects.py);
`false` resumes it.

The operator resumes only a pause it made: with `suspend: false` the chat is told
to resume only while the `Suspended` condition says the operator paused it (or was
about to), so a person's own pause from the web stands. While `suspend: true` the
pause is kept: a person's resume from the web is undone at the next reconciliation.
What to do and the condition are decided here from the spec and the last status
(pure); the chat is told through an injected `Pauser` (tests replace it)."""

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from coedit.chat.client import ChatClient, ServiceError
from coedit.chat.models import SessionCompletion
from coedit_operator import consts
from coedit_operator.common_objects import secret_name
from coedit_operator.kube import KubeClient, KubeError
from coedit_operator.spec import Completion, Condition, Session, SessionStatus

SUSPENDED = "Suspended"
NOT_SUSPENDED = "NotSuspended"
SUSPENDING = "Suspending"  # spec.suspend is true, the chat is not paused yet
RESUMING = "Resuming"  # spec.suspend is false again, the chat is not resumed yet
BY = "operator"  # who the chat records as having paused or resumed the session


@dataclass(frozen=True)
class Told:
    """What the chat was asked for in this reconciliation, and why it could not be told."""

    paused: bool
    error: str | None = None


Pauser = Callable[[Session, bool], Awaitable[None]]  # sets the chat's pause state; raises ServiceError
Announcer = Callable[[Session, Completion], Awaitable[None]]  # tells the chat the session is over; raises ServiceError


def wanted_pause(session: Session) -> bool | None:
    """True: pause the chat; False: resume it; None: leave it as people left it."""
    if session.spec.suspend:
        return True
    previous = previous_condition(session.status)
    return False if previous is not None and previous.reason != NOT_SUSPENDED else None


def previous_condition(status: SessionStatus) -> Condition | None:
    return next((c for c in status.conditions if c.type == SUSPENDED), None)


def suspended_state(suspend: bool, told: Told | None) -> tuple[bool, str, str]:
    """The Suspended condition's status, reason and message."""
    error = told.error if told is not None else None
    if suspend:
        if error is None:
            return True, SUSPENDED, "paused by spec.suspend; agents scaled to 0"
        return False, SUSPENDING, f"agents scaled to 0; the chat is not paused yet: {error}"
    if error is None:
        return False, NOT_SUSPENDED, "spec.suspend is false"
    return True, RESUMING, f"agents scaled back; the chat is not resumed yet: {error}"


class ChatTeller:
    """Tells a session's chat, through its typed client, what the operator decided: a
    pause or resume (spec.suspend) and the completion (status.completion, which the web
    shows and the agents see). It reads the chat's state first and writes only when it
    differs, so what is already told costs one GET; the session's token, which the chat
    asks of a write, is read from its Secret only then."""

    def __init__(self, url_template: str, kube: KubeClient, timeout: float = 5.0,
                 client: httpx.AsyncClient | None = None):
        self.url_template, self.kube = url_template, kube
        self.http = client or httpx.AsyncClient(timeout=timeout)

    def chat_url(self, session: Session) -> str:
        return self.url_template.format(name=session.name, namespace=session.namespace).rstrip("/")

    async def token(self, session: Session) -> str:
        secret = {"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": secret_name(session), "namespace": session.namespace}}
        try:
            live = await self.kube.get(secret)
        except KubeError as error:
            raise ServiceError(f"the session's Secret: {error}") from None
        return secret_value(live, consts.SECRET_AUTH_TOKEN)

    async def __call__(self, session: Session, paused: bool) -> None:
        url = self.chat_url(session)
        if (await ChatClient(url, http=self.http).session()).paused == paused:
            return
        chat = ChatClient(url, http=self.http, token=await self.token(session))
        await (chat.pause(BY) if paused else chat.resume(BY))

    async def announce(self, session: Session, completion: Completion) -> None:
        url = self.chat_url(session)
        if (await ChatClient(url, http=self.http).session()).completion is not None:
            return  # the first completion told stays
        chat = ChatClient(url, http=self.http, token=await self.token(session))
        await chat.complete(SessionCompletion(reason=completion.reason, message=completion.message))

    async def close(self) -> None:
        await self.http.aclose()


def secret_value(secret: dict, key: str) -> str:
    try:
        return base64.b64decode((secret.get("data") or {})[key]).decode()
    except (KeyError, ValueError) as error:
        raise ServiceError(f"the session's Secret has no {key}: {error!r}") from None

