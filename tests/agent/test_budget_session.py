"""Agents as processes reserve each model call's bound and settle its usage on a
real session (three text nodes on PostgreSQL, the chat, analytics, the fake model):
what the model consumed stays within the budget and uses most of it."""

import httpx
import pytest

from tests.figures import report

from tests.agent.session import (  # noqa: F401
    converged,
    session_factory,
    text_cluster_factory,
    wait_all,
)

BUDGET = 20_000
PRICE_INPUT, PRICE_OUTPUT = 3.0, 15.0  # USD per million tokens


@pytest.mark.parametrize("prompt_bytes_per_token", [4, 1], ids=["usual-tokenizer", "a-byte-a-token"])
def test_agents_on_a_small_budget_consume_at_most_the_limit_and_most_of_it(
        session_factory, prompt_bytes_per_token):  # noqa: F811
    """A byte a token: the model counts prompts at four times the old estimate, the
    most a byte-level tokenizer can; the reservations' bound still holds."""
    session = session_factory(token_budget=BUDGET,
                              model_args=["--prompt-bytes-per-token", str(prompt_bytes_per_token)])
    prices = ["--price-input", str(PRICE_INPUT), "--price-output", str(PRICE_OUTPUT), "--start-spread", "0"]
    agents = {f"agent-{n}": session.agent(f"agent-{n}", *prices) for n in range(5)}
    wait_all(agents, session)  # every agent exits 0 (budget_exhausted)
    converged(session, ["a", "b", "c"])

    figures = session.summary()
    budget = httpx.get(f"{session.text['a'].url}/api/budget", timeout=10).json()
    assert figures["tokens"] == budget["spent"] <= BUDGET  # analytics and the ledger agree: never past it
    report("agents_on_a_small_budget", prompt_bytes_per_token=prompt_bytes_per_token, budget=BUDGET,
           tokens=figures["tokens"], used=round(figures["tokens"] / BUDGET, 3))
    assert figures["tokens"] >= 0.7 * BUDGET, figures
    assert budget["exhausted"] and budget["reserved"] == 0  # every reservation settled or released
    expected = (figures["prompt_tokens"] * PRICE_INPUT + figures["completion_tokens"] * PRICE_OUTPUT) / 1e6
    assert figures["cost_usd"] == pytest.approx(expected)
    for agent_id in agents:
        assert '"reason": "budget_exhausted"' in session.logs(agent_id)
        assert "usage_over_reservation" not in (session.log_dir / f"{agent_id}.log").read_text()
