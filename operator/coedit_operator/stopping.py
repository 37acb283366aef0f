"""When a session is done: the first of its stop conditions met (pure).

The token budget is enforced by the text nodes themselves (an escrow: never passed).
A money budget becomes a token limit no larger than what it buys at the highest
price per token of any agent group, so it is never passed either (a conservative
bound: at the real mix of prompt and completion tokens it buys less). Versions and
duration are read from the document and the clock."""

import datetime
import re

from coedit.common.money import tokens_bought
from coedit_operator.spec import Completion, SessionSpec

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(duration: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([smhd])", duration).groups()
    return int(number) * UNITS[unit]


def prices(spec: SessionSpec) -> list[float]:
    """USD per million tokens, prompt and completion, of every agent group."""
    return [price for group in spec.agents.groups for price in spec.prices(group)]


def money_tokens(spec: SessionSpec) -> int | None:
    """The tokens the money budget buys at the highest price (None: no money budget, or no prices)."""
    return None if spec.budget.usd is None else tokens_bought(spec.budget.usd, prices(spec))


def token_limit(spec: SessionSpec) -> int:
    """What the text nodes enforce: the token budget, or less if the money budget buys less."""
    bought = money_tokens(spec)
    return spec.budget.tokens if bought is None else max(min(spec.budget.tokens, bought), 1)


def elapsed_seconds(created: str | None, now: str) -> float | None:
    if not created:
        return None
    parse = lambda text: datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    return (parse(now) - parse(created)).total_seconds()


def budget_spent(completion: Completion | None) -> bool:
    return completion is not None and completion.reason in ("BudgetExhausted", "MoneySpent")


def stop_reason(spec: SessionSpec, *, used: int, exhausted: bool, version: int | None,
                elapsed: float | None) -> Completion | None:
    limit = token_limit(spec)
    if exhausted or used >= limit:
        if limit < spec.budget.tokens:
            return Completion(reason="MoneySpent", message=(
                f"the money budget (${spec.budget.usd:g}) is spent: {used}/{limit} tokens at up to "
                f"${max(prices(spec)):g} per million"))
        return Completion(reason="BudgetExhausted", message=f"the token budget is spent ({used}/{limit})")
    if spec.budget.max_versions is not None and version is not None and version >= spec.budget.max_versions:
        return Completion(reason="MaxVersions", message=f"the document reached {version} versions")
    if spec.budget.max_duration is not None and elapsed is not None and elapsed >= seconds(spec.budget.max_duration):
        return Completion(reason="MaxDuration", message=f"the session ran its {spec.budget.max_duration}")
    return None
