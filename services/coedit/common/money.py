"""Tokens and money at a model's price (USD per million tokens), shared by the
agents (the cost of each call), `coedit up` and the operator (a money budget as a
token limit the text nodes enforce)."""

from fractions import Fraction


def cost_usd(prompt_tokens: int, completion_tokens: int, price_input: float, price_output: float) -> float:
    return (prompt_tokens * price_input + completion_tokens * price_output) / 1_000_000


def tokens_bought(usd: float, prices: list[float]) -> int | None:
    """The most tokens `usd` pays for at the dearest of `prices`, whatever the mix of
    prompt and completion tokens (None: no price known). Exact, rounded down."""
    dearest = max(prices, default=0)
    if not dearest:
        return None
    return int(Fraction(str(usd)) * 1_000_000 / Fraction(str(dearest)))
