"""Known vulnerabilities and misconfigurations: pip-audit over the dependencies the
project runs with (as installed: the closure of pyproject's `dependencies`, pinned),
checkov over the rendered chart. pip-audit needs a vulnerability service (PyPI's or
OSV's), which this project's CI machines cannot reach (a PyPI mirror without
vulnerability data, no internet): there the test skips, saying so. The release
workflow, which has the internet, runs it with COEDIT_REQUIRE_AUDIT=true, where an
unreachable service is a failure and no release is built."""

import json
import os
import subprocess
import sys
import tomllib
from importlib import metadata

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.conftest import CHART, NAMESPACE, ROOT, run_helm
from tests.deploy.test_chart import EVERYTHING

# Vulnerabilities accepted, each with its reason (none today).
IGNORED_VULNERABILITIES: dict[str, str] = {}

# checkov's findings on the chart that stay, each with its reason; every other check passes.
SKIPPED_CHECKS = {
    # CPU limits throttle a busy pod even when the node is idle; every container sets a
    # CPU request and a memory limit (values.yaml), which is what scheduling needs.
    "CKV_K8S_11": "CPU limits should be set",
    # Images are versioned tags (the chart's appVersion) and pulled IfNotPresent; a
    # moving tag is never deployed, so Always would only add a registry round trip.
    "CKV_K8S_15": "Image Pull Policy should be Always",
    # Digests are the release pipeline's to pin (values: image.tag may be a digest);
    # the chart cannot know the digest of an image built after it.
    "CKV_K8S_43": "Image should use digest",
    # The operator and the CRD-upgrade Job call the Kubernetes API with their service
    # account: they need its token (every other pod of the chart has none).
    "CKV_K8S_38": "Service Account Tokens are only mounted where necessary",
    # `helm test` pods run one request and exit: probes have nothing to watch.
    "CKV_K8S_8": "Liveness Probe Should be Configured",
    "CKV_K8S_9": "Readiness Probe Should be Configured",
    # The chart's own pods (operator, CRD-upgrade Job, optional Jaeger, helm tests) talk
    # to the API server and the sessions; the sessions' pods, which hold the data, get
    # NetworkPolicies from the operator (coedit_operator's objects).
    "CKV2_K8S_6": "Minimize the admission of pods which lack an associated NetworkPolicy",
}


def _unreachable(what: str) -> None:
    message = f"{what}: the audit could not run, so nothing is known about it"
    if os.environ.get("COEDIT_REQUIRE_AUDIT") == "true":
        pytest.fail(message)
    pytest.skip(message)


def installed_closure() -> dict[str, str]:
    """name -> installed version of every distribution the project's dependencies pull in."""
    wanted = [Requirement(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    found: dict[str, str] = {}
    while wanted:
        requirement = wanted.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        distribution = metadata.distribution(requirement.name)
        found[name] = distribution.version
        for needed in map(Requirement, distribution.requires or []):
            extras = requirement.extras or {""}
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                wanted.append(needed)
    return found


def test_no_dependency_has_a_known_vulnerability(tmp_path):
    pins = tmp_path / "requirements.txt"
    pins.write_text("".join(f"{name}=={version}\n" for name, version in sorted(installed_closure().items())))
    report = tmp_path / "audit.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip_audit", "-r", str(pins), "--no-deps", "--disable-pip", "--format", "json",
         "--progress-spinner", "off", "--timeout", "30", "--output", str(report)],
        capture_output=True, text=True, timeout=600)
    if not report.exists():
        _unreachable(f"pip-audit failed ({result.returncode}): {result.stderr.strip().splitlines()[-1:]}")
    dependencies = json.loads(report.read_text())["dependencies"]
    unaudited = [d["name"] for d in dependencies if d.get("skip_reason")]
    if unaudited:  # every one of them is on PyPI: not found means the service is not there
        _unreachable(f"the vulnerability service answered for none of {', '.join(unaudited[:5])}, ... "
                     f"({len(unaudited)} of {len(dependencies)})")
    found = {f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v['fix_versions']) or 'no release'})"
             for d in dependencies for v in d["vulns"] if v["id"] not in IGNORED_VULNERABILITIES}
    assert not found, sorted(found)


def test_the_rendered_chart_passes_checkov(helm, tmp_path):
    values = tmp_path / "everything.yaml"
    values.write_text(yaml.safe_dump(EVERYTHING))
    rendered = tmp_path / "rendered"
    rendered.mkdir()
    for name, extra in (("default", []), ("everything", ["-f", str(values)])):
        result = run_helm(helm, "template", "coedit", str(CHART), "--namespace", NAMESPACE, *extra)
        assert result.returncode == 0, result.stderr
        (rendered / f"{name}.yaml").write_text(result.stdout)
    result = subprocess.run(
        ["checkov", "--directory", str(rendered), "--framework", "kubernetes", "--skip-download", "--quiet",
         "--compact", "--output", "json", "--skip-check", ",".join(SKIPPED_CHECKS)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    report = json.loads(result.stdout)
    summary = report["summary"]
    assert summary["parsing_errors"] == 0 and summary["resource_count"] > 10, summary
    failed = sorted({f"{c['check_id']} {c['check_name']}: {c['resource']}" for c in report["results"]["failed_checks"]})
    assert not failed, failed
