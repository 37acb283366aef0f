"""The Helm chart: lint, schema, rendered objects valid for Kubernetes, RBAC that
matches what the operator does, peering, optional features, the dashboard's metrics.

Core objects are validated strictly with kubernetes-validate. It knows no custom
resources: CoEditSessions are validated against our CRD's schema (jsonschema), the
kopf peering objects and the Service/PodMonitors are checked structurally."""

import json
import re
import subprocess

import pytest
import yaml

from coedit_operator import consts, kube
from coedit_operator.settings import OperatorSettings

from tests.deploy.conftest import (CHART, NAMESPACE, ROOT, by_kind, load_all_strictly, one, run_helm,
                                   validate_all)

EVERYTHING = {
    "operator": {"replicas": 2, "resyncInterval": 5, "textUrlTemplate": "http://{name}-text-{node}.{namespace}:8000",
                 "chatUrlTemplate": "http://{name}-chat.{namespace}:8000"},
    "llm": {"apiKey": "sk-test"},
    "jaeger": {"enabled": True},
    "fakeLlm": {"enabled": True},
    "grafana": {"dashboards": {"enabled": True}},
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "ingress": {"className": "nginx", "tls": {"enabled": True, "certManager": {"clusterIssuer": "letsencrypt"}}},
    "sessions": {"demo": {"budget": {"tokens": 20000}, "ingress": {"host": "demo.example.com"}}, "plain": None},
}
WATCHED = ["team-a", "team-b"]


def operator_env(objects: list[dict]) -> dict[str, str]:
    container = one(objects, "Deployment", "coedit-operator")["spec"]["template"]["spec"]["containers"][0]
    return {var["name"]: var["value"] for var in container["env"]}


def test_lint_is_clean(helm, tmp_path):
    values = tmp_path / "everything.yaml"
    values.write_text(yaml.safe_dump(EVERYTHING))
    for extra in ([], ["-f", str(values)]):
        result = run_helm(helm, "lint", "--strict", str(CHART), *extra)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0 chart(s) failed" in result.stdout


def test_chart_crd_is_the_generated_crd():
    copy, generated = CHART / "crds" / "coeditsession.yaml", ROOT / "crds" / "coeditsession.yaml"
    assert copy.read_bytes() == generated.read_bytes(), "run: python -m tests.deploy.test_manifests"


def test_default_render_validates_strictly(template):
    objects = template()
    assert {obj["kind"] for obj in objects} == {
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment"}
    validate_all(objects)
    assert [d["metadata"]["name"] for d in by_kind(objects, "Deployment")] == ["coedit-operator"]


@pytest.mark.parametrize("watched", [[], WATCHED], ids=["clusterwide", "namespaced"])
def test_everything_on_validates(template, watched):
    objects = template(EVERYTHING | {"operator": EVERYTHING["operator"] | {"watchNamespaces": watched}})
    validate_all(objects)
    kinds = {obj["kind"] for obj in objects}
    assert {"CoEditSession", "ServiceMonitor", "ConfigMap", "Secret", "Service"} <= kinds
    assert {d["metadata"]["name"] for d in by_kind(objects, "Deployment")} == {
        "coedit-operator", "coedit-jaeger", "fake-llm"}


@pytest.mark.parametrize("setting, message", [
    ("operator.replicas=0", "/operator/replicas"),
    ("operator.logLevel=loud", "/operator/logLevel"),
    ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
    ("operator.watchNamespaces[0]=Not_A_Namespace", "/operator/watchNamespaces/0"),
    ("jaeger.enabeld=true", "enabeld"),
    ("llm.baseUrl=api.openai.com", "/llm/baseUrl"),
    ("image.digest=latest", "/image/digest"),
    ("sessions.Bad_Name.budget.tokens=1", "Bad_Name"),
    ("serviceMonitor.allowFrom[0].pods.app=prometheus", "/serviceMonitor/allowFrom/0"),
])
def test_bad_values_fail_at_install_time(helm, setting, message):
    result = run_helm(helm, "template", "coedit", str(CHART), "--set", setting)
    assert result.returncode != 0
    assert message in result.stderr


def rules_by_resource(role: dict) -> dict[str, set[str]]:
    granted: dict[str, set[str]] = {}
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        for resource in rule["resources"]:
            granted.setdefault(resource, set()).update(rule["verbs"])
    return granted


def test_rbac_is_exactly_what_the_operator_does(template):
    objects = template()
    granted = rules_by_resource(one(objects, "ClusterRole", "coedit-operator"))
    children = {kube.PLURALS[kind] for kind in kube.CHILD_KINDS if kind != "Secret"}
    assert set(kube.PLURALS.values()) | {"coeditsessions/status"} == set(granted)
    for plural in children:  # listed and watched by label, created, server-side applied, pruned
        assert granted[plural] == {"list", "watch", "create", "patch", "delete"}, plural
    # watched by label, created once, never changed; read to pause the chat for spec.suspend
    assert granted["secrets"] == {"list", "watch", "create", "get"}
    assert granted["persistentvolumeclaims"] == {"patch"}  # grown when the spec asks for larger volumes
    assert granted[consts.PLURAL] == {"list", "watch", "patch"}  # kopf watches; progress in annotations
    assert granted["coeditsessions/status"] == {"patch"}
    assert granted["events"] == {"create"}
    framework = rules_by_resource(one(objects, "ClusterRole", "coedit-operator-framework"))
    assert framework == {"customresourcedefinitions": {"list", "watch"}}
    # People with the built-in edit role may create and scale sessions.
    edit = one(objects, "ClusterRole", "coedit-edit")
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert {"get", "update", "patch"} <= rules_by_resource(edit)["coeditsessions/scale"]


def test_watched_namespaces_get_a_role_each(template):
    objects = template({"operator": {"watchNamespaces": WATCHED}})
    assert not [role for role in by_kind(objects, "ClusterRole") if role["metadata"]["name"] == "coedit-operator"]
    roles = by_kind(objects, "Role")
    bindings = by_kind(objects, "RoleBinding")
    assert sorted(role["metadata"]["namespace"] for role in roles) == WATCHED
    assert sorted(binding["metadata"]["namespace"] for binding in bindings) == WATCHED
    for binding in bindings:
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "coedit-operator", "namespace": NAMESPACE}]
    framework = rules_by_resource(one(objects, "ClusterRole", "coedit-operator-framework"))
    assert framework["namespaces"] == {"list", "watch"}
    assert json.loads(operator_env(objects)["COEDIT_NAMESPACES"]) == WATCHED


def test_one_replica_is_standalone_and_never_overlaps(template):
    objects = template()
    env = operator_env(objects)
    assert env["COEDIT_STANDALONE"] == "true" and "COEDIT_PEERING" not in env
    assert one(objects, "Deployment", "coedit-operator")["spec"]["strategy"]["type"] == "Recreate"
    assert not by_kind(objects, "ClusterKopfPeering") and not by_kind(objects, "KopfPeering")


def test_replicas_join_a_peering_that_the_chart_creates(template):
    clusterwide = template({"operator": {"replicas": 2}})
    env = operator_env(clusterwide)
    assert "COEDIT_STANDALONE" not in env
    assert one(clusterwide, "ClusterKopfPeering")["metadata"]["name"] == env["COEDIT_PEERING"] == "coedit"
    framework = rules_by_resource(one(clusterwide, "ClusterRole", "coedit-operator-framework"))
    assert framework["clusterkopfpeerings"] == {"get", "list", "watch", "patch"}

    namespaced = template({"operator": {"replicas": 3, "watchNamespaces": WATCHED}})
    peerings = by_kind(namespaced, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == WATCHED
    for role in by_kind(namespaced, "Role"):
        assert rules_by_resource(role)["kopfpeerings"] == {"get", "list", "watch", "patch"}


def test_operator_settings_parse_the_charts_environment(template, monkeypatch):
    """The env the chart sets is what `coedit operator` reads (lists as JSON, booleans, floats)."""
    objects = template(EVERYTHING | {"operator": EVERYTHING["operator"] | {"watchNamespaces": WATCHED}},
                       "--set", "image.tag=1.2.3")
    for name, value in operator_env(objects).items():
        monkeypatch.setenv(name, value)
    settings = OperatorSettings()
    assert settings.namespaces == WATCHED
    assert settings.peering == "coedit" and not settings.standalone
    assert settings.image == "ghcr.io/coedit/coedit:1.2.3"
    assert settings.run_as_user == 10001 and settings.resync_interval == 5.0
    assert settings.liveness == "http://0.0.0.0:8080/healthz"
    assert settings.text_url_template == EVERYTHING["operator"]["textUrlTemplate"]
    assert settings.chat_url_template == EVERYTHING["operator"]["chatUrlTemplate"]
    # the chart's default scrapers are the operator's own default
    assert settings.metrics_from == consts.METRICS_SCRAPERS
    none = template({"serviceMonitor": {"allowFrom": []}})
    assert operator_env(none)["COEDIT_METRICS_FROM"] == "[]"


def test_operator_pod_may_read_the_text_nodes_and_runs_restricted(template):
    """Each session's NetworkPolicy admits pods with the operator's labels to its text nodes."""
    pod = one(template(), "Deployment", "coedit-operator")["spec"]["template"]
    assert consts.OPERATOR_POD_LABELS.items() <= pod["metadata"]["labels"].items()
    container = pod["spec"]["containers"][0]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    assert container["livenessProbe"]["httpGet"]["port"] == "health"


def test_image_digest_pins_both_images(template):
    digest = "sha256:" + "ab" * 32
    objects = template({"image": {"tag": "1.0", "digest": digest}, "operator": {"image": {"digest": digest}}})
    container = one(objects, "Deployment", "coedit-operator")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/coedit/coedit-operator:0.1.0@{digest}"
    assert operator_env(objects)["COEDIT_IMAGE"] == f"ghcr.io/coedit/coedit:1.0@{digest}"


def test_sessions_get_the_chart_defaults(template):
    objects = template(EVERYTHING)
    demo = one(objects, "CoEditSession", "demo")["spec"]
    assert demo["llm"] == {"baseUrl": "https://api.openai.com/v1", "model": "gpt-4o-mini",
                           "apiKeySecret": {"name": "openai", "key": "OPENAI_API_KEY"}}
    assert demo["telemetry"] == {"otlpEndpoint": f"http://coedit-jaeger.{NAMESPACE}.svc:4318"}
    assert demo["ingress"] == {"host": "demo.example.com", "className": "nginx", "tls": {"secretName": "demo-tls"},
                               "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}}
    assert "ingress" not in one(objects, "CoEditSession", "plain")["spec"]
    secret = one(objects, "Secret")
    assert secret["metadata"]["name"] == "openai" and secret["stringData"] == {"OPENAI_API_KEY": "sk-test"}


def test_traefik_tls_and_a_session_without_key(template):
    objects = template({
        "llm": {"apiKeySecret": {"name": "", "key": ""}, "baseUrl": f"http://fake-llm.{NAMESPACE}:8000/v1"},
        "ingress": {"className": "traefik", "tls": {"enabled": True, "traefik": {"certResolver": "le"}}},
        "sessions": {"demo": {"ingress": {"host": "demo.example.com"}}},
    })
    spec = one(objects, "CoEditSession", "demo")["spec"]
    validate_all(objects)
    assert "apiKeySecret" not in spec["llm"] and "telemetry" not in spec
    assert spec["ingress"]["annotations"] == {
        "traefik.ingress.kubernetes.io/router.tls": "true",
        "traefik.ingress.kubernetes.io/router.tls.certresolver": "le"}


def test_service_monitor_scrapes_the_services_the_operator_creates(template, tmp_path):
    """Render a real session with the operator and check the ServiceMonitor selects its
    HTTP Services (by labels and port name) and no others."""
    from coedit_operator.render import render_file
    from coedit_operator.settings import RenderSettings

    session = ROOT / "manifests" / "examples" / "minimal.yaml"
    children = list(yaml.safe_load_all(render_file(session, RenderSettings(file=session), namespace="team-a")))
    monitor = one(template(EVERYTHING), "ServiceMonitor")["spec"]
    selector = monitor["selector"]
    components = set(selector["matchExpressions"][0]["values"])

    def selected(service: dict) -> bool:
        labels = service["metadata"]["labels"]
        return selector["matchLabels"].items() <= labels.items() and labels[consts.LABEL_COMPONENT] in components

    services = [child for child in children if child["kind"] == "Service"]
    chosen = {s["metadata"]["labels"][consts.LABEL_COMPONENT] for s in services if selected(s)}
    assert chosen == {"text-node", "chat", "analytics", "web"}
    port = monitor["endpoints"][0]["port"]
    for service in services:
        if selected(service):
            assert port in [p["name"] for p in service["spec"]["ports"]]
    assert monitor["namespaceSelector"] == {"any": True}


def defined_metrics() -> set[str]:
    """Metric names the services define (prometheus_client objects and analytics' gauges)."""
    names: set[str] = set()
    for path in (ROOT / "services" / "coedit").rglob("*.py"):
        source = path.read_text()
        names |= set(re.findall(r'(?:Gauge|Counter|Histogram|Summary)\(\s*"(coedit_\w+)"', source))
        if path.name == "metrics.py" and "coedit_analytics_" in source:
            gauges = re.search(r"GAUGES = \{(.*?)\n\}", source, re.S).group(1)
            names |= {f"coedit_analytics_{name}" for name in re.findall(r'"(\w+)":', gauges)}
    return {name.removesuffix("_total") for name in names}  # a Counter adds _total itself


def test_dashboard_uses_only_metrics_the_services_export(template):
    dashboard_text = (CHART / "files" / "grafana" / "coedit.json").read_text()
    dashboard = json.loads(dashboard_text)
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {re.sub(r"_(total|bucket|sum|count)$", "", name) for e in exprs for name in re.findall(r"coedit_\w+", e)}
    known = defined_metrics()
    assert used <= known, used - known
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("tokens", "edits", "active agents", "replication lag", "budget", "llm latency", "conflict", "cancel"):
        assert topic in titles
    config_map = one(template(EVERYTHING), "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["coedit.json"]) == dashboard


def test_notes_tell_how_to_create_a_first_session(helm):
    result = run_helm(helm, "install", "coedit", str(CHART), "--namespace", NAMESPACE, "--dry-run=client",
                      "--set", "jaeger.enabled=true")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "kubectl apply -f manifests/examples/robots-story.yaml" in notes
    assert "port-forward svc/NAME-web" in notes and "port-forward svc/coedit-jaeger 16686" in notes


def test_values_schema_limits_match_the_operator():
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["properties"]["sessions"]["propertyNames"]["maxLength"] == consts.MAX_SESSION_NAME
    assert schema["properties"]["image"]["properties"]["runAsUser"]["minimum"] == 1


STANDARD_LABELS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                   "app.kubernetes.io/component", "app.kubernetes.io/managed-by", "helm.sh/chart"}


def _pod_templates(obj: dict):
    spec = obj.get("spec") or {}
    if obj["kind"] in ("Deployment", "Job"):
        yield spec["template"]
    if obj["kind"] == "Pod":
        yield obj


@pytest.mark.parametrize("watched", [[], WATCHED], ids=["clusterwide", "namespaced"])
def test_every_object_carries_the_standard_labels(template, watched):
    everything = EVERYTHING | {"operator": EVERYTHING["operator"] | {"watchNamespaces": watched}}
    objects = template(everything, hooks=True)
    assert {"Job", "Pod", "PrometheusRule"} <= {obj["kind"] for obj in objects}  # hooks included
    for obj in objects:
        labels = obj["metadata"].get("labels") or {}
        assert STANDARD_LABELS <= set(labels), (obj["kind"], obj["metadata"]["name"], STANDARD_LABELS - set(labels))
        assert labels["app.kubernetes.io/managed-by"] == "Helm" and labels["app.kubernetes.io/version"] == "0.1.0"
        for pod in _pod_templates(obj):
            assert STANDARD_LABELS <= set(pod["metadata"]["labels"]), obj["metadata"]["name"]
        selector = (obj.get("spec") or {}).get("selector")
        if obj["kind"] == "Deployment":  # selectors never hold labels that change on upgrade
            assert set(selector["matchLabels"]) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}
            assert selector["matchLabels"].items() <= obj["spec"]["template"]["metadata"]["labels"].items()


def test_the_strict_loader_refuses_a_key_twice():
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate keys"):
        load_all_strictly("metadata:\n  labels:\n    a: 1\n    a: 2\n")


def test_kubectl_kustomize_accepts_the_rendered_chart(helm, kubectl, tmp_path):
    """kustomize (and Flux's post-renderers, Argo CD's helmCharts) refuse duplicate keys."""
    values = tmp_path / "everything.yaml"
    values.write_text(yaml.safe_dump(EVERYTHING))
    for name, extra in (("defaults", []), ("everything", ["-f", str(values)])):
        rendered = run_helm(helm, "template", "coedit", str(CHART), "--namespace", NAMESPACE, "--include-crds", *extra)
        assert rendered.returncode == 0, rendered.stderr
        folder = tmp_path / name
        folder.mkdir()
        (folder / "chart.yaml").write_text(rendered.stdout)
        (folder / "kustomization.yaml").write_text("resources: [chart.yaml]\ncommonLabels: {team: docs}\n")
        result = subprocess.run([str(kubectl), "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert len(load_all_strictly(result.stdout)) == len(load_all_strictly(rendered.stdout))


def test_security_context_and_resources_are_overridable(template):
    pod = {"runAsNonRoot": True, "runAsUser": 20000, "runAsGroup": 20000, "fsGroup": 20000}
    container = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
                 "seccompProfile": {"type": "Localhost", "localhostProfile": "coedit.json"}}
    resources = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    overrides = {"podSecurityContext": pod, "securityContext": container, "resources": resources}
    objects = template({"operator": overrides, "fakeLlm": {"enabled": True, **overrides},
                        "jaeger": {"enabled": True, **overrides}})
    validate_all(objects)
    for name in ("coedit-operator", "fake-llm", "coedit-jaeger"):
        spec = one(objects, "Deployment", name)["spec"]["template"]["spec"]
        # Helm merges maps with the defaults (a key set to null removes one)
        assert pod.items() <= spec["securityContext"].items(), name
        assert spec["containers"][0]["securityContext"] == container, name
        assert spec["containers"][0]["resources"] == resources, name


def test_default_images_follow_the_app_version(template):
    objects = template()
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    container = one(objects, "Deployment", "coedit-operator")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/coedit/coedit-operator:{chart['appVersion']}"
    assert operator_env(objects)["COEDIT_IMAGE"] == f"ghcr.io/coedit/coedit:{chart['appVersion']}"


def test_session_images_are_pinned():
    """The operator's PostgreSQL and Redis defaults name a release, never a moving major tag."""
    from coedit_operator.spec import Postgres, Redis

    for image in (Postgres().image, Redis().image):
        assert re.fullmatch(r"[a-z]+:\d+\.\d+(\.\d+)?-alpine[\d.]*", image), image


def test_crd_upgrade_hook_applies_exactly_the_charts_crds(template):
    objects = [obj for obj in template(hooks=True) if "crds-upgrade" in obj["metadata"]["name"]]
    validate_all(objects)
    assert sorted(obj["kind"] for obj in objects) == [
        "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Job", "ServiceAccount"]
    for obj in objects:
        assert obj["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
    files = {path.name: path.read_text() for path in (CHART / "crds").glob("*.yaml")}
    assert one(objects, "ConfigMap")["data"] == files
    names = sorted(doc["metadata"]["name"] for text in files.values() for doc in yaml.safe_load_all(text) if doc)
    rule, = one(objects, "ClusterRole")["rules"]
    assert sorted(rule["resourceNames"]) == names and rule["verbs"] == ["get", "patch"]
    job = one(objects, "Job")["spec"]["template"]["spec"]
    assert job["containers"][0]["args"][:3] == ["apply", "--server-side", "--force-conflicts"]
    assert job["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert not [obj for obj in template({"crds": {"upgrade": {"enabled": False}}}, hooks=True)
                if "crds-upgrade" in obj["metadata"]["name"]]


def test_helm_test_pods_check_each_sessions_text_nodes(template):
    objects = template({"sessions": {"demo": {"textNodes": {"count": 2}}, "plain": None}}, hooks=True)
    pods = {pod["metadata"]["name"]: pod for pod in by_kind(objects, "Pod")}
    assert set(pods) == {"coedit-test-demo", "coedit-test-plain"}
    validate_all(list(pods.values()))
    for name, nodes in (("demo", "a,b"), ("plain", "a,b,c")):
        pod = pods[f"coedit-test-{name}"]
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        env = {var["name"]: var["value"] for var in pod["spec"]["containers"][0]["env"]}
        assert env == {"SESSION": name, "NAMESPACE": NAMESPACE, "NODES": nodes}
        # the session's NetworkPolicy admits the operator's pods to the text nodes
        assert consts.OPERATOR_POD_LABELS.items() <= pod["metadata"]["labels"].items()
        assert "pod-template-hash" not in pod["metadata"]["labels"]
        compile(pod["spec"]["containers"][0]["args"][0], "helm-test", "exec")
    assert not by_kind(template({"sessions": {"demo": None}, "tests": {"enabled": False}}, hooks=True), "Pod")


def _promql(expr: str):
    import promql_parser

    for variable, value in (("$__rate_interval", "5m"), ("$namespace", ".*"), ("$session", ".*")):
        expr = expr.replace(variable, value)
    return promql_parser.parse(expr)


def test_prometheus_rule_alerts(template):
    rule = one(template(EVERYTHING), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    assert set(alerts) == {"CoeditReplicationLagging", "CoeditPeerDown", "CoeditBudgetNearlySpent",
                           "CoeditHighErrorRate", "CoeditSessionFailed", "CoeditSessionDegraded"}
    for alert in alerts.values():
        _promql(alert["expr"])  # valid PromQL
        assert alert["labels"]["severity"] and alert["annotations"]["summary"]
    assert "> 0.9" in alerts["CoeditBudgetNearlySpent"]["expr"]
    assert 'status=~"5.."' in alerts["CoeditHighErrorRate"]["expr"]
    used = {re.sub(r"_(total|bucket|sum|count)$", "", name)
            for alert in alerts.values() for name in re.findall(r"coedit_\w+", alert["expr"])}
    assert used - defined_metrics() == {"coedit_operator_sessions"}  # the operator's own gauge
    assert not by_kind(template(), "PrometheusRule")


def test_dashboard_panels_and_queries():
    dashboard = json.loads((CHART / "files" / "grafana" / "coedit.json").read_text())
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("replication lag", "peers", "5xx", "pending history", "sse readers"):
        assert topic in titles
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            _promql(target["expr"])
            for window in re.findall(r"\[([^\]]+)\]", target["expr"]):
                assert window == "$__rate_interval", (panel["title"], window)


def test_the_operators_metrics_are_scraped_by_a_pod_monitor(template):
    """The PrometheusRule's Failed/Degraded alerts read the operator's own metrics."""
    rendered = template(EVERYTHING)
    monitor = one(rendered, "PodMonitor")["spec"]
    operator = next(d for d in by_kind(rendered, "Deployment") if d["metadata"]["name"] == "coedit-operator")
    assert monitor["selector"]["matchLabels"].items() <= operator["spec"]["template"]["metadata"]["labels"].items()
    ports = [p["name"] for c in operator["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
    assert monitor["podMetricsEndpoints"][0]["port"] in ports
