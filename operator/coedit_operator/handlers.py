"""The kopf handlers, thin: each finds a session's live children in the watches' indexes
and runs `reconcile`.

What starts a reconciliation of a session:
- the session itself: created, its spec changed, the operator (re)started (kopf's
  create/update/resume handlers; kopf retries their errors);
- an event of one of its children: deleted, edited by hand, or its status changed (a
  Deployment became ready), so drift is restored at once;
- a timer (`--resync-interval`) that reads the text nodes' token spend and document
  version, which no Kubernetes object carries.
None of them LISTs: kopf's watches keep the indexes current, filtered by the API server to
the operator's own children (`app.kubernetes.io/managed-by=coedit-operator`). A
reconciliation that finds everything as desired makes no API request, so an idle session
costs none. Everything the handlers use comes from the memo (tests inject a reader)."""

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable

import kopf

from coedit_operator import consts
from coedit_operator.kube import API_VERSIONS, CHILD_KINDS, PLURALS, KubeClient, KubeError
from coedit_operator.metrics import OperatorMetrics
from coedit_operator.observed import SessionKey, Writes, seen, session_of
from coedit_operator.reader import HttpTextReader
from coedit_operator.reconcile import Context, StepFailed, emit, reconcile
from coedit_operator.settings import OperatorSettings
from coedit_operator.spec import InvalidSpec
from coedit_operator.suspend import ChatTeller

RESOURCE = (consts.GROUP, consts.VERSION, consts.PLURAL)
CHILD_RESOURCES = [(API_VERSIONS[kind], PLURALS[kind]) for kind in CHILD_KINDS]
MANAGED_SELECTOR = f"{consts.LABEL_MANAGED_BY}={consts.OPERATOR_NAME}"
logger = logging.getLogger(__name__)


def configure(kopf_settings: kopf.OperatorSettings) -> kopf.OperatorSettings:
    # Progress and diff-base in annotations: the CRD's status schema holds only our own fields.
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=consts.GROUP)
    kopf_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=consts.GROUP)
    kopf_settings.posting.level = logging.INFO  # Events for what operators care about, not debug noise
    kopf_settings.watching.server_timeout = 300
    for api_version, plural in CHILD_RESOURCES:  # watch only what the operator manages, not every Secret
        kopf_settings.watching.label_selectors[api_version, plural] = MANAGED_SELECTOR
    return kopf_settings


class Runs:
    """One reconciliation at a time per session. A nudge (a child's event, the timer) that
    comes while another nudge already waits for the session is absorbed by the waiting
    one, which reads the indexes only when it starts: a burst of events costs one run."""

    def __init__(self) -> None:
        self.locks: dict[SessionKey, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self.waiting: set[SessionKey] = set()

    async def now(self, key: SessionKey, run: Callable[[], Awaitable[Context]]) -> Context:
        async with self.locks[key]:
            return await run()

    async def nudge(self, key: SessionKey, run: Callable[[], Awaitable[Context]]) -> None:
        if key in self.waiting:
            return
        self.waiting.add(key)
        async with self.locks[key]:
            self.waiting.discard(key)
            await run()

    def forget(self, key: SessionKey) -> None:
        self.locks.pop(key, None)
        self.waiting.discard(key)


def build_registry(config: OperatorSettings) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs) -> kopf.ConnectionInfo | None:
        # kopf's own loaders for its own client; kube.py's finds the same service account or kubeconfig
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(memo: kopf.Memo, **_) -> None:
        memo.metrics = OperatorMetrics()
        if memo.get("kube") is None:
            memo.kube = await KubeClient.from_environment(memo.metrics.api_request).connect()
        if memo.get("reader") is None:
            memo.reader = HttpTextReader(memo.config.text_url_template, memo.config.http_timeout)
        if memo.get("pauser") is None:
            memo.pauser = ChatTeller(memo.config.chat_url_template, memo.kube, memo.config.http_timeout)
        memo.writes = Writes()
        memo.runs = Runs()
        if memo.config.metrics_port:
            port = memo.metrics.serve(memo.config.metrics_host, memo.config.metrics_port)
            logger.info("metrics on %s:%d/metrics", memo.config.metrics_host, port)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: kopf.Memo, **_) -> None:
        for closable in (memo.get("pauser"), memo.get("kube"), memo.get("reader")):
            if hasattr(closable, "close"):
                await closable.close()
        memo.metrics.close()

    # -- the indexes the watches keep: children by session, sessions by name --

    def children(body, resource, memo: kopf.Memo, **_) -> dict | None:
        key = session_of(body)
        if key is None:
            return None
        memo.writes.arrived(key, resource.kind, body["metadata"]["name"])
        return {key: seen(dict(body), resource.kind)}

    def sessions(body, namespace, name, memo: kopf.Memo, **_) -> dict:
        memo.writes.arrived((namespace, name), consts.KIND, name)
        return {(namespace, name): seen(dict(body), consts.KIND)}

    kopf.index(*RESOURCE, id="sessions", registry=registry)(sessions)
    for api_version, plural in CHILD_RESOURCES:  # one index over every child kind
        kopf.index(api_version, plural, id="children", registry=registry)(children)

    # -- reconciliation --

    async def run(key: SessionKey, body, trigger: str, memo: kopf.Memo, indexes: dict) -> Context:
        """Reconcile with the freshest body and children known; count and time it."""
        written = memo.writes.session(key)
        body = written.object() if written is not None else body
        live = memo.writes.overlay(key, indexes["children"].get(key, ()))
        metrics: OperatorMetrics = memo.metrics
        started, result = time.perf_counter(), "error"
        try:
            ctx = await reconcile(body, memo.kube, memo.reader, memo.pauser, memo.config,
                                  {child: item.object() for child, item in live.items()}, memo.writes,
                                  announcer=getattr(memo.pauser, "announce", None))
            result = "success"
        except InvalidSpec:
            result = "invalid_spec"
            metrics.phases[key] = consts.FAILED
            raise
        except StepFailed as failure:
            metrics.reconcile_errors.labels(failure.step).inc()
            raise
        except KubeError:
            metrics.reconcile_errors.labels("update_status").inc()
            raise
        finally:
            metrics.reconciliations.labels(trigger, result).inc()
            metrics.reconcile_duration.labels(trigger).observe(time.perf_counter() - started)
        metrics.phases[key] = ctx.status.phase
        for applied in ctx.applied:
            if applied[0] not in "-~":
                metrics.children_applied.labels(applied.split("/", 1)[0]).inc()
        if ctx.applied:
            logger.info("%s/%s: applied %d (%s); phase %s", *key, len(ctx.applied), ", ".join(ctx.applied[:10]),
                        ctx.status.phase)
        return ctx

    def key_of(body) -> SessionKey:
        return body["metadata"]["namespace"], body["metadata"]["name"]

    @kopf.on.resume(*RESOURCE, registry=registry)
    @kopf.on.create(*RESOURCE, registry=registry)
    @kopf.on.update(*RESOURCE, field="spec", registry=registry)
    async def on_change(body, reason, memo: kopf.Memo, children: kopf.Index, sessions: kopf.Index, **_) -> None:
        key = key_of(body)
        indexes = {"children": children, "sessions": sessions}
        try:
            await memo.runs.now(key, lambda: run(key, body, getattr(reason, "value", str(reason)), memo, indexes))
        except InvalidSpec as error:
            raise kopf.PermanentError(f"invalid spec: {error}") from None  # retried when the spec changes
        except (StepFailed, KubeError) as error:
            await emit(memo.kube, dict(body), "Warning", "ApplyFailed", str(error))
            raise kopf.TemporaryError(str(error), delay=config.resync_interval) from None

    async def on_child_event(type, body, resource, memo: kopf.Memo, children: kopf.Index, sessions: kopf.Index,
                             **_) -> None:
        """A child changed or went: reconcile its session (if it is one this operator serves)."""
        key = session_of(body)
        if type == "DELETED":  # the index forgets it without calling `children`
            memo.writes.arrived(key, resource.kind, body["metadata"]["name"])
        if key is None or key not in sessions:
            return
        await nudge(key, "child", memo, {"children": children, "sessions": sessions})

    for api_version, plural in CHILD_RESOURCES:
        kopf.on.event(api_version, plural, registry=registry)(on_child_event)

    async def nudge(key: SessionKey, trigger: str, memo: kopf.Memo, indexes: dict) -> None:
        async def latest() -> Context | None:
            store = indexes["sessions"].get(key)
            if not store:
                return None  # deleted meanwhile
            return await run(key, next(iter(store)).object(), trigger, memo, indexes)

        try:
            await memo.runs.nudge(key, latest)
        except InvalidSpec:
            pass  # the status already says Failed; the next spec change is handled by on_change
        except (StepFailed, KubeError) as error:
            logger.warning("%s/%s: reconciliation after a %s failed: %s", *key, trigger, error)

    @kopf.timer(*RESOURCE, interval=config.resync_interval, initial_delay=config.resync_interval,
                registry=registry)
    async def resync(body, memo: kopf.Memo, children: kopf.Index, sessions: kopf.Index, **_) -> None:
        """Read the text nodes (budget, version); without news this writes nothing."""
        await nudge(key_of(body), "timer", memo, {"children": children, "sessions": sessions})

    @kopf.on.event(*RESOURCE, registry=registry)
    async def on_session_event(type, body, memo: kopf.Memo, **_) -> None:
        """A deleted session: its children go with it (garbage collection); forget it here."""
        if type == "DELETED":
            key = key_of(body)
            memo.runs.forget(key)
            memo.writes.forget(key)
            memo.metrics.phases.pop(key, None)

    return registry

