"""`coedit operator`: run kopf programmatically with our registry and settings."""

import asyncio
import threading

import kopf

from coedit.common.logging import configure_logging
from coedit_operator.handlers import build_registry, configure
from coedit_operator.settings import OperatorSettings


async def operate(settings: OperatorSettings, memo: kopf.Memo | None = None,
                  stop_flag: asyncio.Event | threading.Event | None = None,
                  ready_flag: asyncio.Event | threading.Event | None = None,
                  kopf_settings: kopf.OperatorSettings | None = None) -> None:
    """Run until `stop_flag` is set; `memo` may carry a `kube` client and a `reader` (tests)."""
    memo = memo if memo is not None else kopf.Memo()
    memo.config = settings
    await kopf.operator(
        registry=build_registry(settings),
        settings=configure(kopf_settings or kopf.OperatorSettings()),
        memo=memo,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        standalone=settings.standalone,
        peering_name=None if settings.standalone else settings.peering,
        priority=settings.priority,
        liveness_endpoint=settings.liveness,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )


def run(settings: OperatorSettings) -> None:
    configure_logging("operator", settings.log_level)
    asyncio.run(operate(settings))
