"""`coedit operator render -f SESSION.yaml`, the way a user runs it."""

import subprocess
import sys

import yaml

from coedit_operator import consts
from tests.operator.helpers import EXAMPLES, ROOT


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coedit", "operator", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_render_prints_every_child_as_yaml():
    robots = next(path for path in EXAMPLES if path.name == "robots-story.yaml")
    result = run("render", "-f", str(robots), "--namespace", "stories", "--image", "example/coedit:9")
    assert result.returncode == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    kinds = [obj["kind"] for obj in objects]
    assert kinds.count("StatefulSet") == 5 and kinds.count("Deployment") == 4 + 3 and "Ingress" in kinds
    assert {obj["metadata"]["namespace"] for obj in objects} == {"stories"}
    assert all(obj["metadata"]["labels"][consts.LABEL_INSTANCE] == "robots-story" for obj in objects)
    config = next(obj for obj in objects if obj["kind"] == "ConfigMap")
    assert config["data"]["COEDIT_INITIAL_TEXT"].startswith("Документ начинается здесь.")
    web = next(obj for obj in objects if obj["metadata"]["name"] == "robots-story-web" and obj["kind"] == "Deployment")
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "example/coedit:9"


def test_an_invalid_session_is_refused_with_the_reason(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"apiVersion": "coedit.io/v1alpha1", "kind": "CoEditSession",
                                   "metadata": {"name": "bad"}, "spec": {"textNodes": {"count": 0}}}))
    result = run("render", "-f", str(bad))
    assert result.returncode != 0
    assert "spec.textNodes.count" in result.stderr and not result.stdout
