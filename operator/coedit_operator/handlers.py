"""The kopf handlers: thin wrappers that run `reconcile` on every change of a
session and on a timer (drift, readiness, budget). Everything they need comes
from the memo, so tests can inject the Kubernetes client and the text reader."""

import asyncio
import collections
import logging

import kopf

from coedit_operator import consts
from coedit_operator.kube import KubeClient, KubeError
from coedit_operator.reader import HttpTextReader
from coedit_operator.reconcile import reconcile
from coedit_operator.settings import OperatorSettings
from coedit_operator.spec import InvalidSpec

RESOURCE = (consts.GROUP, consts.VERSION, consts.PLURAL)


def configure(kopf_settings: kopf.OperatorSettings) -> kopf.OperatorSettings:
    # Progress and diff-base in annotations: the CRD's status schema holds only our own fields.
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=consts.GROUP)
    kopf_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=consts.GROUP)
    kopf_settings.posting.level = logging.INFO  # Events for what operators care about, not debug noise
    kopf_settings.watching.server_timeout = 300
    return kopf_settings


def build_registry(config: OperatorSettings) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs) -> kopf.ConnectionInfo | None:
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_) -> None:
        if memo.get("kube") is None:
            memo.kube = KubeClient.from_environment(settings)
        if memo.get("reader") is None:
            memo.reader = HttpTextReader(memo.config.text_url_template, memo.config.http_timeout)
        memo.locks = collections.defaultdict(asyncio.Lock)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: kopf.Memo, **_) -> None:
        for closable in (memo.get("kube"), memo.get("reader")):
            if hasattr(closable, "close"):
                await closable.close()

    def lock_key(body) -> str:
        return body["metadata"].get("uid") or body["metadata"]["name"]

    async def run(body, memo: kopf.Memo, logger) -> None:
        """One reconciliation at a time per session (the timer and the change handlers overlap)."""
        async with memo.locks[lock_key(body)]:
            ctx = await reconcile(body, memo.kube, memo.reader, memo.config)
        if ctx.applied:
            logger.info(f"applied {len(ctx.applied)} children; phase {ctx.status.phase}")

    @kopf.on.resume(*RESOURCE, registry=registry)
    @kopf.on.create(*RESOURCE, registry=registry)
    @kopf.on.update(*RESOURCE, field="spec", registry=registry)
    async def on_change(body, memo: kopf.Memo, logger, **_) -> None:
        try:
            await run(body, memo, logger)
        except InvalidSpec as error:
            raise kopf.PermanentError(f"invalid spec: {error}") from None  # retried when the spec changes
        except KubeError as error:
            kopf.event(body, type="Warning", reason="ApplyFailed", message=str(error)[:1000])
            raise kopf.TemporaryError(str(error), delay=config.resync_interval) from None

    @kopf.timer(*RESOURCE, interval=config.resync_interval, initial_delay=config.resync_interval,
                registry=registry)
    async def resync(body, memo: kopf.Memo, logger, **_) -> None:
        try:
            await run(body, memo, logger)
        except InvalidSpec:
            pass  # the status already says Failed; the next spec change is handled by on_change
        except KubeError as error:
            logger.warning(f"resync failed: {error}")

    @kopf.on.delete(*RESOURCE, optional=True, registry=registry)
    async def on_delete(body, memo: kopf.Memo, **_) -> None:
        """The children go with their owner (garbage collection); forget the lock."""
        memo.locks.pop(lock_key(body), None)

    return registry
