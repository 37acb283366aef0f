"""Reconciliation as an ordered list of named, idempotent steps: each creates what
is missing or fixes what drifted, so running them again changes nothing."""

import asyncio
import copy
import datetime
from dataclasses import dataclass, field

import kopf

from coedit_operator import consts
from coedit_operator.config import BuildConfig
from coedit_operator.kube import CHILD_KINDS, KubeClient, KubeError
from coedit_operator.objects import desired_objects
from coedit_operator.reader import TextReader, TextReading
from coedit_operator.session_objects import internal_secret, new_secret_values
from coedit_operator.spec import InvalidSpec, Session, SessionStatus, parse_session, parse_status
from coedit_operator.status import Child, build_status, completion, failed_status, status_changes, tokens
from coedit_operator.volumes import claim_changes, claim_names, claim_patch, keeping_live_claims

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
    config: BuildConfig
    now: str
    reading: TextReading | None = None
    children: list[Child] = field(default_factory=list)
    orphans: list[dict] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    status: SessionStatus | None = None


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


async def ensure_secret(ctx: Context) -> None:
    """Create the session's Secret once; an existing one is never replaced (no accidental rotation)."""
    secret = adopted(ctx.body, internal_secret(ctx.session, new_secret_values()))
    if await ctx.kube.get(secret) is not None:
        return
    try:
        await ctx.kube.create(secret)
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
    """One labelled LIST per kind rather than a GET per child; what this session owns
    but no longer wants (fewer nodes or groups, no ingress host) is noted for pruning."""
    desired = [adopted(ctx.body, obj) for obj in desired_objects(ctx.session, ctx.config)]
    selector = f"{consts.LABEL_INSTANCE}={ctx.session.name},{consts.LABEL_MANAGED_BY}={consts.OPERATOR_NAME}"
    listed = await asyncio.gather(*(ctx.kube.list(*kind, ctx.session.namespace, selector) for kind in CHILD_KINDS))
    live = {(kind, item["metadata"]["name"]): item for kind, items in zip(CHILD_KINDS, listed) for item in items}
    keys = [((obj["apiVersion"], obj["kind"]), obj["metadata"]["name"]) for obj in desired]
    ctx.children = [Child(obj, live.get(key)) for obj, key in zip(desired, keys)]
    wanted = set(keys)
    ctx.orphans = [
        {**item, "apiVersion": kind[0], "kind": kind[1]} for (kind, name), item in live.items()
        if (kind, name) not in wanted and owned_by(item, ctx.body)
    ]


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
                await ctx.kube.delete(child.live, orphan_dependents=True)
                ctx.children[index] = Child(child.desired, None)
                ctx.applied.append(f"~{child.kind}/{child.name} (volumes {', '.join(changes.grow.values())})")
                continue
        warn_once(ctx, "VolumeChangeRefused", f"StatefulSet {child.name}: {problem}")
        ctx.children[index] = Child(keeping_live_claims(child.desired, child.live), child.live)


async def grow_claim(kube: KubeClient, claim: dict, patch: dict) -> None:
    try:
        await kube.patch(claim, patch)
    except KubeError as error:
        if error.status != 404:  # a pod that never ran has no claim yet: it gets the new size
            raise


def warn_once(ctx: Context, reason: str, message: str) -> None:
    key = (ctx.body["metadata"].get("uid") or ctx.session.name, message)
    if key not in _warned:
        _warned.add(key)
        kopf.event(ctx.body, type="Warning", reason=reason, message=message[:1000])


async def prune_children(ctx: Context) -> None:
    """Delete children this session owns but its spec no longer asks for."""
    for orphan in ctx.orphans:
        await ctx.kube.delete(orphan)
        ctx.applied.append(f"-{orphan['kind']}/{orphan['metadata']['name']}")


async def apply_children(ctx: Context) -> None:
    """Apply each child that is missing or drifted (deleted, hand-edited, or the spec changed)."""
    limit = asyncio.Semaphore(APPLY_CONCURRENCY)

    async def fix(child: Child) -> Child:
        if child.live is not None and subset(child.desired, child.live):
            return child
        async with limit:
            live = await ctx.kube.apply(child.desired)
        ctx.applied.append(f"{child.kind}/{child.name}")
        return Child(child.desired, live)

    ctx.children = list(await asyncio.gather(*map(fix, ctx.children)))


async def update_status(ctx: Context) -> None:
    ctx.status = build_status(ctx.session, ctx.children, ctx.reading, ctx.now)
    await write_status(ctx.kube, ctx.body, ctx.session.status, ctx.status)
    if ctx.applied:
        kopf.event(ctx.body, type="Normal", reason="Applied",
                   message=f"applied {len(ctx.applied)}: {', '.join(ctx.applied[:10])}"[:1000])


STEPS = [ensure_secret, read_text_service, observe_children, resize_volumes, apply_children, prune_children,
         update_status]


async def write_status(kube: KubeClient, body: dict, old: SessionStatus, new: SessionStatus) -> None:
    """Patch only what changed; an Event for each phase transition."""
    changes = status_changes(body.get("status"), new)
    if not changes:
        return
    await kube.patch_status(body, changes)
    if new.phase != old.phase or not body.get("status"):
        kind = "Warning" if new.phase in WARNING_PHASES else "Normal"
        kopf.event(body, type=kind, reason=new.phase, message=new.message[:1000])


async def reconcile(body: dict, kube: KubeClient, reader: TextReader, config: BuildConfig) -> Context:
    """Run every step; an invalid spec sets phase Failed (+ Event) and raises `InvalidSpec`."""
    body = copy.deepcopy(dict(body))  # kopf bodies are read-only views; builders add to it
    now = now_rfc3339()
    try:
        session = parse_session(body)
    except InvalidSpec as error:
        old = parse_status(body)
        await write_status(kube, body, old, failed_status(old, str(error), now, body["metadata"].get("generation")))
        raise
    ctx = Context(body=body, session=session, kube=kube, reader=reader, config=config, now=now)
    for step in STEPS:
        await step(ctx)
    return ctx
