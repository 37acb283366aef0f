"""manifests/install.yaml and manifests/observability/ are rendered from the chart;
these tests fail when they are stale. After a change to the chart or to
crds/coeditsession.yaml, run `python -m tests.deploy.test_manifests` (from the
repository root): it copies the CRD into the chart and renders them all again."""

import json

import pytest
import yaml

from tests.deploy.conftest import CHART, NAMESPACE, ROOT, helm_binary, run_helm, validate_all

HEADER = """\
# Generated from charts/coedit by `python -m tests.deploy.test_manifests`. Do not edit.
# ({command})
"""
RENDERED = {
    "install.yaml": ["--no-hooks"],  # kubectl apply runs no Helm hooks (CRD upgrade, tests)
    "observability/jaeger.yaml": ["--set", "jaeger.enabled=true", "--show-only", "templates/jaeger.yaml"],
    "observability/grafana-dashboard-configmap.yaml": [
        "--set", "grafana.dashboards.enabled=true", "--show-only", "templates/grafana-dashboard.yaml"],
    "observability/servicemonitor.yaml": ["--set", "serviceMonitor.enabled=true", "--show-only", "templates/servicemonitor.yaml"],
    "observability/prometheusrule.yaml": [
        "--set", "prometheusRule.enabled=true", "--show-only", "templates/prometheusrule.yaml"],
}
DASHBOARD = "observability/grafana-dashboard.json"  # for Grafana's import dialog


def render(helm, name: str) -> str:
    args = ["template", "coedit", "charts/coedit", "--namespace", NAMESPACE, "--include-crds", *RENDERED[name]]
    result = run_helm(helm, *args, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return HEADER.format(command=" ".join(["helm", *args])) + result.stdout


def write_all() -> None:
    """Copy the generated CRD into the chart, then render every manifest from it."""
    (CHART / "crds" / "coeditsession.yaml").write_bytes((ROOT / "crds" / "coeditsession.yaml").read_bytes())
    helm = helm_binary()
    for name in RENDERED:
        (ROOT / "manifests" / name).write_text(render(helm, name))
    (ROOT / "manifests" / DASHBOARD).write_bytes((CHART / "files" / "grafana" / "coedit.json").read_bytes())


@pytest.mark.parametrize("name", RENDERED)
def test_rendered_manifests_are_current(helm, name):
    assert (ROOT / "manifests" / name).read_text() == render(helm, name), "run: python -m tests.deploy.test_manifests"


def test_install_yaml_installs_the_crds_and_the_operator():
    objects = [doc for doc in yaml.safe_load_all((ROOT / "manifests" / "install.yaml").read_text()) if doc]
    kinds = [obj["kind"] for obj in objects]
    assert kinds.count("CustomResourceDefinition") == 3 and "Deployment" in kinds
    assert all(obj["metadata"].get("namespace", NAMESPACE) == NAMESPACE for obj in objects)
    validate_all(objects)


def test_dashboard_json_is_the_charts():
    copy = json.loads((ROOT / "manifests" / DASHBOARD).read_text())
    assert copy == json.loads((CHART / "files" / "grafana" / "coedit.json").read_text())


if __name__ == "__main__":
    write_all()
