"""A session's stop conditions from its spec (see coedit.common.stopping): a money
budget is a token limit no larger than it buys at the dearest group's price."""

import datetime

from coedit.common.money import tokens_bought
from coedit.common.stopping import Limits, stop_reason as first_stop
from coedit_operator.spec import Completion, SessionSpec


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


def limits(spec: SessionSpec) -> Limits:
    tokens = token_limit(spec)
    return Limits(tokens=tokens, money_bound=tokens < spec.budget.tokens, usd=spec.budget.usd,
                  max_versions=spec.budget.max_versions, max_duration=spec.budget.max_duration)


def elapsed_seconds(created: str | None, now: str) -> float | None:
    if not created:
        return None
    parse = lambda text: datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    return (parse(now) - parse(created)).total_seconds()


def budget_spent(completion: Completion | None) -> bool:
    return completion is not None and completion.reason in ("BudgetExhausted", "MoneySpent")


def stop_reason(spec: SessionSpec, *, used: int, exhausted: bool, version: int | None,
                elapsed: float | None) -> Completion | None:
    stop = first_stop(limits(spec), used=used, exhausted=exhausted, version=version, elapsed=elapsed)
    return None if stop is None else Completion(reason=stop.reason, message=stop.message)
