"""The connection pool: opened in the background with retries, so the service
starts (and answers /healthz) before its database does."""

import asyncio

import asyncpg
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from coedit.analytics.migrations import migrate
from coedit.common.retrying import log_waiting

log = structlog.get_logger(__name__)
_log_waiting = log_waiting(log, "the database")

# What a database that is down, restarting or unreachable raises.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
)


class Database:
    def __init__(self, url: str, pool_size: int):
        self.url, self.pool_size = url, pool_size
        self.pool: asyncpg.Pool | None = None
        self.last_error: str | None = None

    async def open(self) -> None:
        """Connect and migrate, retrying with jittered exponential backoff (capped at
        5 s) until it works: a database that is down, still starting or not yet created
        is expected while a session comes up. /readyz shows the last error."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential_jitter(initial=0.2, max=5),
            before_sleep=self._failed,
        ):
            with attempt:
                # Custom plans always: a window's bounds decide between the index walk
                # and a sort, and a cached generic plan (after 5 runs) picks badly.
                pool = await asyncpg.create_pool(
                    self.url, min_size=1, max_size=self.pool_size, command_timeout=30,
                    server_settings={"plan_cache_mode": "force_custom_plan"},
                )
                try:
                    async with pool.acquire() as conn:
                        version = await migrate(conn)
                except BaseException:
                    pool.terminate()
                    raise
        self.pool = pool
        log.info("database ready", schema_version=version)

    def _failed(self, state: RetryCallState) -> None:
        self.last_error = repr(state.outcome.exception())
        _log_waiting(state)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def readiness(self) -> tuple[bool, dict]:
        """Ready once migrated and while the database answers."""
        if self.pool is None:
            return False, {"database": "connecting", "last_error": self.last_error}
        try:
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), timeout=2)
        except UNAVAILABLE as exc:
            return False, {"database": f"unavailable: {exc!r}"}
        return True, {"database": "ok"}

