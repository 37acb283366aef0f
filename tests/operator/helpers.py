"""Helpers for the operator tests (no conftest.py: a package named `operator` would
shadow the standard library, so this folder has no __init__.py either)."""

from pathlib import Path

import yaml

from coedit_operator.config import BuildConfig
from coedit_operator.spec import parse_session

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "manifests" / "examples").glob("*.yaml"))
K8S_VERSION = "1.30"


def body(name: str = "demo", namespace: str = "ns", **spec) -> dict:
    return {
        "apiVersion": "coedit.io/v1alpha1",
        "kind": "CoEditSession",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1,
                     "resourceVersion": "1"},  # kopf's patches test it; kmock keeps it as given
        "spec": spec,
    }


def session(**spec):
    return parse_session(body(**spec))


def load_example(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["metadata"].setdefault("namespace", "default")
    return data


CONFIG = BuildConfig(image="registry.example/coedit:1.0")
