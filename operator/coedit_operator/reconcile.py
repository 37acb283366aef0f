"""Reconciliation as an ordered list of named, idempotent steps: each creates what
is missing or fixes what drifted, so running them again changes nothing. The live
children come in with the call (from the watches' indexes, see observed.py): a
reconciliation that finds everything as desired makes no API request at all."""

import asyncio
import copy
import datetime
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field

import kopf

from coedit_operator import consts
from coedit_operator.config import BuildConfig
from coedit_operator.kube import KubeClient, KubeError
from coedit_operator.objects import desired_objects
from coedit_operator.observed import Writes
from coedit_operator.reader import TextReader, TextReading
from coedit_operator.session_objects import new_secrets
from coedit.chat.client import ServiceError
from coedit_operator.spec import InvalidSpec, Session, SessionStatus, parse_session, parse_status
from coedit_operator.suspend import Announcer, Pauser, Told, wanted_pause
from coedit_operator.status import Child, build_status, completion, failed_status, status_changes, tokens
from coedit_operator.volumes import claim_changes, claim_names, claim_patch, keeping_live_claims

logger = logging.getLogger(__name__)
WARNING_PHASES = {consts.DEGRADED, consts.FAILED}
APPLY_CONCURRENCY = 8
# Warnings this process has given, by session uid and text: a refusal stands until the
# spec changes, and every resync would otherwise repeat it as a new Event.
_warned: set[tuple[str, str]] = set()


@dataclass
class Context:
    body: dict
    session: Session
    kube: KubeClient
    reader: TextReader
    pauser: Pauser
    config: BuildConfig
    now: str
    live: dict[tuple[str, str], dict]  # (kind, name) -> the live object, for this session
    reading: TextReading | None = None
    told: Told | None = None  # what the chat was told for spec.suspend (None: nothing)
    announcer: Announcer | None = None  # tells the chat the session is over (None: nobody to tell)
    children: list[Child] = field(default_factory=list)
    orphans: list[dict] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    writes: Writes = field(default_factory=Writes)
    status: SessionStatus | None = None


class StepFailed(Exception):
    """A step's API call failed."""

    def __init__(self, step: str, error: KubeError):
        super().__init__(f"{step}: {error}")
        self.step, self.error = step, error


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def subset(desired: object, live: object) -> bool:
    """Whether `live` holds everything `desired` says (the server may add defaults)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(subset(value, live.get(key)) for key, value in desired.items())
    if isinstance(desired, list):
        return isinstance(live, list) and len(desired) == len(live) and all(map(subset, desired, live))
    return desired == live


def adopted(body: dict, obj: dict) -> dict:
    kopf.adopt(obj, owner=body)
    return obj


async def tracked(writes: Writes, obj: dict, request: Awaitable[dict | None]) -> dict | None:
    """Send a write of `obj`, telling `writes` what the API answered (see observed.Writes)."""
    writes.begin(obj)
    answer = None
    try:
        answer = await request
    finally:
        writes.end(obj, answer)
    return answer


async def emit(kube: KubeClient, body: dict, type_: str, reason: str, message: str) -> None:
    """Post an Event; one that cannot be posted is logged and changes nothing else."""
    try:
        await kube.event(body, type_, reason, message)
    except KubeError as error:
        logger.warning("event %s about %s not posted: %s", reason, body["metadata"]["name"], error)


async def ensure_secrets(ctx: Context) -> None:
    """Create each of the session's Secrets (its internal one, each agent group's token)
    that is missing; an existing one is never replaced (no accidental rotation)."""
    for secret in new_secrets(ctx.session):
        if ("Secret", secret["metadata"]["name"]) in ctx.live:
            continue
        secret = adopted(ctx.body, secret)
        try:
            await tracked(ctx.writes, secret, ctx.kube.create(secret))
            ctx.applied.append(f"Secret/{secret['metadata']['name']}")
        except KubeError as error:
            if error.status != 409:  # 409: someone created it meanwhile, keep theirs
                raise


async def read_text_service(ctx: Context) -> None:
    """The budget decides the agents' replicas, so it is read before building them;
    not before a text node was seen ready (no timeouts against pods still starting)."""
    if ctx.session.status.nodes.ready:
        ctx.reading = await ctx.reader(ctx.session)
    status = ctx.session.status.model_copy(update={
        "tokens": tokens(ctx.session, ctx.reading), "completion": completion(ctx.session, ctx.reading, ctx.now),
    })
    ctx.session = ctx.session.model_copy(update={"status": status})


async def observe_children(ctx: Context) -> None:
    """Pair each desired child with its live object (from the watches, no request); what
    this session owns but no longer wants (fewer nodes or groups, no ingress host) is noted
    for pruning. The Secrets are created once and never pruned."""
    desired = [adopted(ctx.body, obj) for obj in desired_objects(ctx.session, ctx.config)]
    keys = [(obj["kind"], obj["metadata"]["name"]) for obj in desired]
    ctx.children = [Child(obj, ctx.live.get(key)) for obj, key in zip(desired, keys)]
    wanted = set(keys)
    ctx.orphans = [item for key, item in ctx.live.items()
                   if key not in wanted and key[0] != "Secret" and owned_by(item, ctx.body)]


def owned_by(obj: dict, owner: dict) -> bool:
    uid = owner["metadata"].get("uid")
    return any(ref.get("uid") == uid and ref.get("controller") for ref in obj["metadata"].get("ownerReferences") or [])


async def resize_volumes(ctx: Context) -> None:
    """Grow the claims of a StatefulSet whose spec asks for larger volumes, then delete
    it without its pods so that `apply_children` makes it again with the new claim
    templates (see volumes.py). A change no claim can make, or a resize the cluster
    refuses, is reported and the rest of the StatefulSet's change still applies."""
    for index, child in enumerate(ctx.children):
        if child.kind != "StatefulSet" or child.live is None:
            continue
        changes = claim_changes(child.desired, child.live)
        if not (changes.grow or changes.refused):
            continue
        problem = "; ".join(changes.refused)
        if not problem:
            try:
                for template, size in changes.grow.items():
                    for name in claim_names(child.live, template):
                        await grow_claim(ctx.kube, *claim_patch(child.live, name, size))
            except KubeError as error:
                problem = f"resizing its volumes failed: {error.message}"
            else:
                await tracked(ctx.writes, child.live, ctx.kube.delete(child.live, orphan_dependents=True))
                ctx.children[index] = Child(child.desired, None)
                ctx.applied.append(f"~{child.kind}/{child.name} (volumes {', '.join(changes.grow.values())})")
                continue
        await warn_once(ctx, "VolumeChangeRefused", f"StatefulSet {child.name}: {problem}")
        ctx.children[index] = Child(keeping_live_claims(child.desired, child.live), child.live)


async def grow_claim(kube: KubeClient, claim: dict, patch: dict) -> None:
    try:
        await kube.patch(claim, patch)
    except KubeError as error:
        if error.status != 404:  # a pod that never ran has no claim yet: it gets the new size
            raise


async def warn_once(ctx: Context, reason: str, message: str) -> None:
    key = (ctx.body["metadata"].get("uid") or ctx.session.name, message)
    if key not in _warned:
        _warned.add(key)
        await emit(ctx.kube, ctx.body, "Warning", reason, message)


async def prune_children(ctx: Context) -> None:
    """Delete children this session owns but its spec no longer asks for."""
    for orphan in ctx.orphans:
        await tracked(ctx.writes, orphan, ctx.kube.delete(orphan))
        ctx.applied.append(f"-{orphan['kind']}/{orphan['metadata']['name']}")


async def apply_children(ctx: Context) -> None:
    """Apply each child that is missing or drifted (deleted, hand-edited, or the spec changed)."""
    limit = asyncio.Semaphore(APPLY_CONCURRENCY)

    async def fix(child: Child) -> Child:
        if child.live is not None and subset(child.desired, child.live):
            return child
        async with limit:
            live = await tracked(ctx.writes, child.desired, ctx.kube.apply(child.desired))
        ctx.applied.append(f"{child.kind}/{child.name}")
        return Child(child.desired, live)

    ctx.children = list(await asyncio.gather(*map(fix, ctx.children)))


def chat_ready(ctx: Context) -> bool:
    """Whether the session's chat Deployment was seen ready (only then is it told anything)."""
    chat = next((child for child in ctx.children if child.kind == "Deployment" and child.component == consts.CHAT),
                None)
    return chat is not None and chat.ready


async def suspend_or_resume(ctx: Context) -> None:
    """Pause or resume the session in its chat for spec.suspend (see suspend.py), once
    the chat was seen ready; the agents' replicas follow the spec on their own."""
    paused = wanted_pause(ctx.session)
    if paused is None:
        return
    if not chat_ready(ctx):
        ctx.told = Told(paused, "the chat is not ready")
        return
    try:
        await ctx.pauser(ctx.session, paused)
    except ServiceError as error:
        ctx.told = Told(paused, str(error))
    else:
        ctx.told = Told(paused)


async def announce_completion(ctx: Context) -> None:
    """Tell the chat the session is over once status.completion says so, so the web
    shows the reason whichever condition decided it (versions, duration, money)."""
    completion = ctx.session.status.completion
    if completion is None or ctx.announcer is None:
        return
    if not chat_ready(ctx):
        return  # the next reconciliation tells it
    try:
        await ctx.announcer(ctx.session, completion)
    except ServiceError as error:
        logger.warning("the chat of %s was not told it is complete: %s", ctx.session.name, error)


async def update_status(ctx: Context) -> None:
    ctx.status = build_status(ctx.session, ctx.children, ctx.reading, ctx.now, ctx.told)
    await write_status(ctx.kube, ctx.writes, ctx.body, ctx.session.status, ctx.status)
    if ctx.applied:
        await emit(ctx.kube, ctx.body, "Normal", "Applied", f"applied {len(ctx.applied)}: {', '.join(ctx.applied[:10])}")


STEPS = [ensure_secrets, read_text_service, observe_children, resize_volumes, apply_children, prune_children,
         suspend_or_resume, announce_completion, update_status]


async def write_status(kube: KubeClient, writes: Writes, body: dict, old: SessionStatus, new: SessionStatus) -> None:
    """Patch only what changed; an Event for each phase transition."""
    changes = status_changes(body.get("status"), new)
    if not changes:
        return
    await tracked(writes, body, kube.patch_status(body, changes))
    if new.phase != old.phase or not body.get("status"):
        await emit(kube, body, "Warning" if new.phase in WARNING_PHASES else "Normal", new.phase, new.message)


async def reconcile(body: dict, kube: KubeClient, reader: TextReader, pauser: Pauser, config: BuildConfig,
                    live: dict[tuple[str, str], dict], writes: Writes, announcer: Announcer | None = None) -> Context:
    """Run every step over the session's live children (`live`, by kind and name), telling
    `writes` what each write answered; an invalid spec sets phase Failed (+ Event) and
    raises `InvalidSpec`, an API error raises `StepFailed`."""
    body = copy.deepcopy(dict(body))  # kopf bodies are read-only views; builders add to it
    now = now_rfc3339()
    try:
        session = parse_session(body)
    except InvalidSpec as error:
        old = parse_status(body)
        await write_status(kube, writes, body, old,
                           failed_status(old, str(error), now, body["metadata"].get("generation")))
        raise
    ctx = Context(body=body, session=session, kube=kube, reader=reader, pauser=pauser, announcer=announcer,
                  config=config, now=now, live=live, writes=writes)
    for step in STEPS:
        try:
            await step(ctx)
        except KubeError as error:
            raise StepFailed(step.__name__, error) from error
    return ctx
