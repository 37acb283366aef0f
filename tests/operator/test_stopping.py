"""Stop conditions: the first met completes the session; a money budget is a token limit."""

from coedit_operator.spec import SessionSpec
from coedit_operator.stopping import stop_reason, token_limit


def spec(**budget) -> SessionSpec:
    return SessionSpec.model_validate({
        "budget": {"tokens": 100_000, **budget},
        "llm": {"priceInput": 0.15, "priceOutput": 0.6},
        "agents": {"groups": [{"name": "cheap"}, {"name": "dear", "priceOutput": 10.0}]},
    })


def reason(spec_, used=0, exhausted=False, version=0, elapsed=0.0):
    found = stop_reason(spec_, used=used, exhausted=exhausted, version=version, elapsed=elapsed)
    return found and found.reason


def test_a_money_budget_is_what_it_buys_at_the_highest_price():
    assert token_limit(spec()) == 100_000
    assert token_limit(spec(usd=0.5)) == 50_000  # $10 per million output tokens in group dear
    assert token_limit(spec(usd=50)) == 100_000  # the token budget is the smaller
    assert reason(spec(usd=0.5), used=50_000) == "MoneySpent"
    assert reason(spec(usd=0.5), used=49_000, exhausted=True) == "MoneySpent"
    assert reason(spec(usd=50), used=100_000) == "BudgetExhausted"
    # without prices a money budget cannot be turned into tokens: only the token budget holds
    unpriced = SessionSpec.model_validate({"budget": {"tokens": 10, "usd": 1}})
    assert token_limit(unpriced) == 10


def test_whichever_condition_comes_first():
    both = spec(maxVersions=30, maxDuration="90m")
    assert reason(both, version=29, elapsed=5399) is None
    assert reason(both, version=30, elapsed=10) == "MaxVersions"
    assert reason(both, version=3, elapsed=5400) == "MaxDuration"
    assert reason(both, version=30, elapsed=5400, exhausted=True) == "BudgetExhausted"
    assert reason(spec(maxDuration="2d"), elapsed=2 * 86400 - 1) is None
    assert reason(spec(), version=10**6, elapsed=10**9) is None  # none set: only the budget
