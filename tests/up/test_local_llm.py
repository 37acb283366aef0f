"""`coedit up --llm local`: the local model server as one more component."""

import pytest

from coedit.up import local_llm
from coedit.up.components import derive_ports, plan
from coedit.up.session_file import SEED_TEXT_EN, SEED_TOPIC_EN, resolve_session
from coedit.up.settings import UpSettings


SERVERS = {**{name: f"postgresql://{name}" for name in ("pg-a", "pg-b", "pg-c", "pg-analytics")},
           "redis": "redis://r"}


def settings(tmp_path, **flags) -> UpSettings:
    return UpSettings(_cli_parse_args=False, data_dir=tmp_path, agents=2, **flags)


def test_without_the_server_installed_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv(local_llm.PYTHON_ENV, str(tmp_path / "no-such-python"))
    with pytest.raises(local_llm.LocalLLMUnavailable, match="local-llm"):
        plan(settings(tmp_path, llm="local"), resolve_session(settings(tmp_path))[0],
             derive_ports(8000), SERVERS)


def test_the_agents_write_on_the_local_model(tmp_path, monkeypatch):
    monkeypatch.setattr(local_llm, "find_model", lambda python: "/models/smollm2.gguf")
    chosen = settings(tmp_path, llm="local")
    session, _ = resolve_session(chosen)
    assert session.initial_text == SEED_TEXT_EN and session.topic == SEED_TOPIC_EN  # SmolLM2 writes English
    components = {c.name: c for c in plan(chosen, session, derive_ports(8000), SERVERS)}
    model = components["local-llm"]
    assert "fake-llm" not in components and model.kind == "model" and model.ready_url.endswith(local_llm.READY_PATH)
    assert model.argv[:3] == [local_llm.local_llm_python(), "-m", "llama_cpp.server"]
    assert "/models/smollm2.gguf" in model.argv and str(model.port) in model.argv
    agent = components["agent-1"].argv
    assert agent[agent.index("--llm-base-url") + 1] == f"{model.url}/v1"
    assert agent[agent.index("--model") + 1] == local_llm.MODEL_ALIAS
