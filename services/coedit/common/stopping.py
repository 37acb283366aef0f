"""When a session is done: the first of its stop conditions met (pure), for the
operator and `coedit up` alike.

The token budget is enforced by the text nodes themselves (an escrow: never
passed). A money budget becomes a token limit no larger than what it buys at the
dearest price per token (`coedit.common.money`), so it is never passed either.
Versions and duration are read from the document and the clock."""

import re
from dataclasses import dataclass
from typing import Literal

DURATION_PATTERN = r"^[1-9][0-9]*(s|m|h|d)$"
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(duration: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([smhd])", duration).groups()
    return int(number) * UNITS[unit]


@dataclass(frozen=True)
class Limits:
    tokens: int  # the token limit the text nodes enforce
    money_bound: bool = False  # that limit is what a money budget buys (lower than the token budget)
    usd: float | None = None
    max_versions: int | None = None
    max_duration: str | None = None


StopReason = Literal["BudgetExhausted", "MoneySpent", "MaxVersions", "MaxDuration"]


@dataclass(frozen=True)
class Stop:
    reason: StopReason
    message: str


def stop_reason(limits: Limits, *, used: int, exhausted: bool, version: int | None,
                elapsed: float | None) -> Stop | None:
    if exhausted or used >= limits.tokens:
        if limits.money_bound:
            return Stop("MoneySpent", f"the money budget (${limits.usd:g}) is spent: {used}/{limits.tokens} "
                                      "tokens, the most it buys")
        return Stop("BudgetExhausted", f"the token budget is spent ({used}/{limits.tokens})")
    if limits.max_versions is not None and version is not None and version >= limits.max_versions:
        return Stop("MaxVersions", f"the document reached {version} versions")
    if limits.max_duration is not None and elapsed is not None and elapsed >= seconds(limits.max_duration):
        return Stop("MaxDuration", f"the session ran its {limits.max_duration}")
    return None
