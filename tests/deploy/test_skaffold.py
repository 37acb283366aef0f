"""skaffold.yaml: the files it names exist, its templates name its artifacts, and each
profile's values install (helm template with the chart's schema) and validate."""

import re

import pytest
import yaml

from tests.deploy.conftest import CHART, NAMESPACE, ROOT, by_kind, one, run_helm, validate_all

SKAFFOLD = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
RELEASE = SKAFFOLD["deploy"]["helm"]["releases"][0]


def profile(name: str) -> dict:
    return next(p for p in SKAFFOLD["profiles"] if p["name"] == name)


def patched(name: str, key: str):
    return next(p["value"] for p in profile(name)["patches"] if p["path"].endswith(key))


def test_schema_version_and_paths():
    assert SKAFFOLD["apiVersion"] == "skaffold/v4beta14" and SKAFFOLD["kind"] == "Config"
    dockerfiles = {a["image"]: ROOT / a["context"] / a["docker"]["dockerfile"] for a in SKAFFOLD["build"]["artifacts"]}
    assert dockerfiles == {"coedit": ROOT / "services" / "Dockerfile", "coedit-operator": ROOT / "operator" / "Dockerfile"}
    assert all(path.is_file() for path in dockerfiles.values())
    assert (ROOT / RELEASE["chartPath"]).resolve() == CHART
    assert RELEASE["namespace"] == NAMESPACE
    for name in ("dev", "prod"):
        for path in patched(name, "/valuesFiles"):
            assert (ROOT / path).is_file(), path


def test_value_templates_name_the_artifacts():
    artifacts = {a["image"].replace("-", "_") for a in SKAFFOLD["build"]["artifacts"]}
    templates = RELEASE["setValueTemplates"]
    used = {m for value in templates.values() for m in re.findall(r"\{\{\.IMAGE_(?:REPO|TAG)_(\w+)\}\}", value)}
    assert used == artifacts
    assert templates["image.repository"] == "{{.IMAGE_REPO_coedit}}"
    assert templates["operator.image.repository"] == "{{.IMAGE_REPO_coedit_operator}}"
    assert patched("prod", "llm.apiKey") == "{{.OPENAI_API_KEY}}"  # the Secret `openai` from the environment


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_profile_values_install(template, name):
    files = [arg for path in patched(name, "/valuesFiles") for arg in ("-f", str(ROOT / path))]
    settings = ["--set", "image.repository=registry.example/coedit", "--set", "image.tag=abc123",
                "--set", "operator.image.repository=registry.example/coedit-operator", "--set", "operator.image.tag=abc123"]
    if name == "prod":
        settings += ["--set", "llm.apiKey=sk-test"]
    objects = template(None, *files, *settings, release=RELEASE["name"])
    validate_all(objects)
    operator = one(objects, "Deployment", "coedit-operator")["spec"]["template"]["spec"]["containers"][0]
    assert operator["image"] == "registry.example/coedit-operator:abc123"
    if name == "dev":
        session = one(objects, "CoEditSession")
        assert session["spec"]["llm"]["baseUrl"] == f"http://fake-llm.{NAMESPACE}:8000/v1"
        services = {s["metadata"]["name"] for s in by_kind(objects, "Service")}
        forwards = {f["resourceName"] for f in profile("dev")["portForward"]}
        # The web Service is the operator's (SESSION-web); Jaeger's is the chart's.
        assert forwards == {f"{session['metadata']['name']}-web", "coedit-jaeger"}
        assert "coedit-jaeger" in services and "fake-llm" in services
    else:
        assert one(objects, "Secret")["stringData"] == {"OPENAI_API_KEY": "sk-test"}
        assert one(objects, "ServiceMonitor") and one(objects, "ConfigMap")


def test_ci_values_lint(helm):
    for values in sorted((CHART / "ci").glob("*-values.yaml")):
        result = run_helm(helm, "lint", "--strict", str(CHART), "-f", str(values))
        assert result.returncode == 0, result.stdout + result.stderr
