"""`spec.mcp`: the MCP server for outside agents, its Service, Ingress path and policy."""

import kubernetes_validate
import pytest

from coedit_operator import consts
from coedit_operator.mcp_objects import mcp_url
from coedit_operator.objects import desired_objects
from coedit_operator.spec import InvalidSpec
from coedit_operator.status import build_status
from tests.operator.helpers import CONFIG, K8S_VERSION, session

MCP = {"enabled": True, "tokensSecret": {"name": "outside"}, "writesPerMinute": 12}
INGRESS = {"host": "x.example.com", "className": "nginx", "tls": {"secretName": "cert"},
           "annotations": {"cert-manager.io/cluster-issuer": "le"}}


def by_name(objects: list[dict]) -> dict[str, dict]:
    return {f"{obj['kind']}/{obj['metadata']['name']}": obj for obj in objects}


def test_no_mcp_server_unless_the_spec_asks():
    assert not [name for name in by_name(desired_objects(session(), CONFIG)) if "mcp" in name]
    assert not [name for name in by_name(desired_objects(session(ingress=INGRESS), CONFIG)) if "mcp" in name]


def test_enabled_needs_the_tokens_secret():
    with pytest.raises(InvalidSpec, match="mcp.enabled needs mcp.tokensSecret"):
        session(mcp={"enabled": True})


def test_the_deployment_reads_the_tokens_from_the_secret_as_a_file():
    objects = by_name(desired_objects(session(mcp=MCP), CONFIG))
    deployment = objects["Deployment/demo-mcp"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["coedit", "mcp"]
    env = {item["name"]: item for item in container["env"]}
    assert env["COEDIT_MCP_TOKENS_FILE"]["value"] == "/etc/coedit/mcp/tokens"
    assert env["COEDIT_WRITES_PER_MINUTE"]["value"] == "12"
    assert env["COEDIT_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "demo-internal"
    assert env["COEDIT_TEXT_NODES"]["valueFrom"]["configMapKeyRef"]["key"] == "COEDIT_TEXT_NODES"
    assert {"name": "tokens", "mountPath": "/etc/coedit/mcp", "readOnly": True} in container["volumeMounts"]
    assert {"name": "tokens", "secret": {"secretName": "outside", "items": [{"key": "tokens", "path": "tokens"}],
                                         "defaultMode": 0o440}} in pod["volumes"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert deployment["spec"]["replicas"] == 1
    service = objects["Service/demo-mcp"]["spec"]
    assert service["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert "Ingress/demo-mcp" not in objects  # no host: in-cluster only
    assert mcp_url(session(mcp=MCP)) == "http://demo-mcp.ns.svc/mcp"


def test_outside_clients_reach_it_behind_the_ingress_at_slash_mcp():
    objects = by_name(desired_objects(session(mcp=MCP, ingress=INGRESS), CONFIG))
    ingress = objects["Ingress/demo-mcp"]
    web = objects["Ingress/demo-web"]
    assert ingress["spec"]["rules"] == [{"host": "x.example.com", "http": {"paths": [{
        "path": "/mcp", "pathType": "Prefix",
        "backend": {"service": {"name": "demo-mcp", "port": {"name": "http"}}}}]}}]
    assert web["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "demo-web"
    for key in ("ingressClassName", "tls"):
        assert ingress["spec"][key] == web["spec"][key]
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "le"}
    assert ingress["metadata"]["labels"][consts.LABEL_COMPONENT] == "mcp"
    policy = objects["NetworkPolicy/demo-mcp"]["spec"]
    assert policy["podSelector"] == {"matchLabels": {consts.LABEL_INSTANCE: "demo", consts.LABEL_COMPONENT: "mcp"}}
    assert policy["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8000}]}]
    assert mcp_url(session(mcp=MCP, ingress=INGRESS)) == "https://x.example.com/mcp"
    for obj in objects.values():
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_status_says_where_outside_agents_connect():
    now = "2026-12-01T00:00:00Z"
    assert build_status(session(mcp=MCP, ingress=INGRESS), [], None, now).mcp_url == "https://x.example.com/mcp"
    assert build_status(session(), [], None, now).mcp_url is None
