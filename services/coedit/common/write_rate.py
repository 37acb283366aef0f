"""Per-agent write rates (text node, chat, the MCP server's outside agents): a
moving window per `agent_id` in this process's memory (each replica counts its own)."""

import math
import time
from typing import Annotated

import limits
from fastapi import Depends, Request
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from coedit.common.errors import ApiError


class AgentWriteRate:
    """At most `per_window` writes by one agent_id in any `window` seconds; 0: no limit."""

    def __init__(self, per_window: int, window: int = 60):
        self.per_window, self.window = per_window, window
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._rate = limits.RateLimitItemPerSecond(max(per_window, 1), window)

    async def wait(self, agent_id: str) -> int | None:
        """Count one write: None when it is within the rate, else the seconds until
        one more would be (and it is not counted)."""
        if not self.per_window or await self._limiter.hit(self._rate, agent_id):
            return None
        stats = await self._limiter.get_window_stats(self._rate, agent_id)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def hit(self, agent_id: str) -> None:
        """Count one write; 429 `rate_limited` with `Retry-After` over the rate."""
        if (wait := await self.wait(agent_id)) is None:
            return
        raise ApiError(429, "rate_limited", f"at most {self.per_window} writes in {self.window} s per agent; "
                       f"try again in about {wait} s", retry_after_seconds=wait, headers={"Retry-After": str(wait)})


async def agent_write_rate(request: Request) -> AgentWriteRate:
    return request.app.state.agent_writes


WriteRate = Annotated[AgentWriteRate, Depends(agent_write_rate)]
