"""Every child builder: valid Kubernetes objects, labels, security, wiring."""

import re

import kubernetes_validate
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coedit.common.agent_tokens import covers, parse_tokens
from coedit_operator import consts
from coedit_operator.agent_objects import group_replicas, spread
from coedit_operator.objects import completed, desired_objects
from coedit_operator.render import render_objects
from coedit_operator.session_objects import config_hash, internal_secret, new_secret_values, new_secrets
from coedit_operator.spec import InvalidSpec, parse_session
from tests.operator.helpers import CONFIG, EXAMPLES, K8S_VERSION, body, load_example, session

PODS = {"Deployment", "StatefulSet"}


def by_name(objects: list[dict]) -> dict[str, dict]:
    return {f"{obj['kind']}/{obj['metadata']['name']}": obj for obj in objects}


def containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def env_of(container: dict) -> dict[str, dict]:
    return {item["name"]: item for item in container["env"]}


@pytest.fixture(params=EXAMPLES, ids=lambda path: path.name)
def example_objects(request) -> list[dict]:
    return render_objects(load_example(request.param), CONFIG)


def test_every_rendered_object_is_valid_kubernetes(example_objects):
    for obj in example_objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_every_coedit_service_gets_its_token_from_a_secret_never_a_flag(example_objects):
    """Services refuse to start without a token; a secret is never a flag (`ps` shows flags).
    The services hold the session's token, an agent only its group's own."""
    seen, secrets = set(), {obj["metadata"]["name"] for obj in example_objects if obj["kind"] == "Secret"}
    for obj in example_objects:
        for container in containers(obj) if obj["kind"] in PODS else []:
            words = [*container.get("command", []), *container.get("args", [])]
            assert not {"--auth-token", "--llm-api-key", "--mcp-tokens", "--agent-tokens",
                        "--insecure-no-auth"} & set(words)
            if words[:1] == ["coedit"]:
                seen.add(words[1])
                secret = env_of(container)["COEDIT_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
                group = obj["metadata"]["labels"].get(consts.LABEL_AGENT_GROUP)
                assert secret == ({"name": f"{obj['metadata']['name']}-token", "key": consts.SECRET_AGENT_TOKEN}
                                  if words[1] == "agent" else
                                  {"name": f"{obj['metadata']['labels'][consts.LABEL_INSTANCE]}-internal",
                                   "key": consts.SECRET_AUTH_TOKEN}), (obj["metadata"]["name"], group)
                assert secret["name"] in secrets
    assert {"text-node", "chat", "analytics", "web", "agent"} <= seen


def expanded(container: dict, values: dict[tuple[str, str], str]) -> dict[str, str]:
    """A container's environment as the kubelet makes it: Secret references resolved from
    `values` ((Secret, key) -> value), `$(NAME)` replaced by an earlier variable."""
    resolved: dict[str, str] = {}
    for item in container["env"]:
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref is not None:
            resolved[item["name"]] = values[(ref["name"], ref["key"])]
        elif "value" in item:
            resolved[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: resolved.get(m[1], m[0]), item["value"])
    return resolved


def test_each_agent_group_writes_only_as_its_own_members():
    """Two groups: the text nodes, chat and analytics list both groups' tokens (from the
    groups' Secrets, as `<group>/*`); each agent Deployment holds only its own group's,
    and its agents' ids are that group's members, never the other's."""
    demo = session(agents={"replicas": 2, "groups": [{"name": "a"}, {"name": "a-b"}]})
    secrets = {obj["metadata"]["name"]: obj for obj in new_secrets(demo)}
    assert set(secrets) == {"demo-internal", "demo-agent-a-token", "demo-agent-a-b-token"}
    values = {(name, key): value for name, obj in secrets.items() for key, value in obj["stringData"].items()}
    tokens = {group: values[(f"demo-agent-{group}-token", consts.SECRET_AGENT_TOKEN)] for group in ("a", "a-b")}
    objects = by_name(desired_objects(demo, CONFIG))
    for name in ("StatefulSet/demo-text-a", "StatefulSet/demo-text-c", "Deployment/demo-chat",
                 "Deployment/demo-analytics"):
        env = expanded(containers(objects[name])[0], values)
        assert parse_tokens(env["COEDIT_AGENT_TOKENS"]) == {"a/*": tokens["a"], "a-b/*": tokens["a-b"]}, name
    assert "COEDIT_AGENT_TOKENS" not in env_of(containers(objects["Deployment/demo-web"])[0])
    for group, other in (("a", "a-b"), ("a-b", "a")):
        container = containers(objects[f"Deployment/demo-agent-{group}"])[0]
        assert env_of(container)["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        pod = f"demo-agent-{group}-5d4f9c7b8-x2x7k"  # what the fieldRef gives
        env = expanded({"env": [{"name": "POD_NAME", "value": pod},
                                *(item for item in container["env"] if item["name"] != "POD_NAME")]}, values)
        assert env["COEDIT_AUTH_TOKEN"] == tokens[group] and values[("demo-internal", "auth-token")] not in env.values()
        assert env["COEDIT_AGENT_ID"] == f"{group}/{pod}"
        assert covers(f"{group}/*", env["COEDIT_AGENT_ID"]) and not covers(f"{other}/*", env["COEDIT_AGENT_ID"])


def test_names_are_unique_and_labelled(example_objects):
    names = [f"{obj['kind']}/{obj['metadata']['name']}" for obj in example_objects]
    assert len(names) == len(set(names))
    for obj in example_objects:
        labels = obj["metadata"]["labels"]
        assert labels[consts.LABEL_MANAGED_BY] == consts.OPERATOR_NAME
        assert labels[consts.LABEL_NAME] == "coedit" and labels[consts.LABEL_PART_OF] == "coedit"
        assert labels[consts.LABEL_INSTANCE] and labels[consts.LABEL_COMPONENT]
        assert len(obj["metadata"]["name"]) <= 63


def test_pods_meet_the_restricted_profile(example_objects):
    for obj in example_objects:
        if obj["kind"] not in PODS:
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]


def test_selectors_match_pod_labels(example_objects):
    for obj in example_objects:
        if obj["kind"] in PODS:
            selector = obj["spec"]["selector"]["matchLabels"]
            assert selector.items() <= obj["spec"]["template"]["metadata"]["labels"].items()


def test_services_select_their_workloads(example_objects):
    objects = by_name(example_objects)
    pods = [obj["spec"]["template"]["metadata"]["labels"] for obj in example_objects if obj["kind"] in PODS]
    for obj in objects.values():
        if obj["kind"] == "Service":
            assert sum(obj["spec"]["selector"].items() <= labels.items() for labels in pods) == 1, obj["metadata"]["name"]


def test_each_text_node_is_a_stateful_set_with_its_postgres():
    objects = by_name(desired_objects(session(), CONFIG))
    for node_id in "abc":
        sts = objects[f"StatefulSet/demo-text-{node_id}"]
        node, postgres = containers(sts)
        assert node["command"] == ["coedit", "text-node"]
        env = env_of(node)
        assert env["COEDIT_NODE_ID"]["value"] == node_id
        peers = env["COEDIT_PEERS"]["value"].split(",")
        assert len(peers) == 2 and all(f"text-{node_id}:" not in peer for peer in peers)
        assert env["COEDIT_DATABASE_URL"]["value"].startswith("postgresql://postgres@127.0.0.1:5432/")
        assert env["COEDIT_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "demo-internal", "key": "auth-token"}
        assert node["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert node["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert postgres["image"] == "postgres:16.6-alpine"
        assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"
        service = objects[f"Service/demo-text-{node_id}"]
        assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert objects["PodDisruptionBudget/demo-text"]["spec"]["maxUnavailable"] == 1


def test_text_nodes_prefer_other_machines_by_default():
    objects = by_name(desired_objects(session(), CONFIG))
    for node_id in "abc":
        affinity = objects[f"StatefulSet/demo-text-{node_id}"]["spec"]["template"]["spec"]["affinity"]
        (preferred,) = affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        assert preferred["weight"] == 100
        term = preferred["podAffinityTerm"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        # every text node of this session, whichever node id: the selector of the PodDisruptionBudget
        assert term["labelSelector"]["matchLabels"] == objects["PodDisruptionBudget/demo-text"]["spec"]["selector"][
            "matchLabels"] == {consts.LABEL_INSTANCE: "demo", consts.LABEL_COMPONENT: consts.TEXT_NODE}
        assert "requiredDuringSchedulingIgnoredDuringExecution" not in affinity["podAntiAffinity"]


def test_text_nodes_can_require_separate_zones():
    spec = {"affinity": {"podAntiAffinityType": "required", "topologyKey": "topology.kubernetes.io/zone"}}
    sts = by_name(desired_objects(session(textNodes=spec), CONFIG))["StatefulSet/demo-text-a"]
    anti = sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (required,) = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required["topologyKey"] == "topology.kubernetes.io/zone"
    assert required["labelSelector"]["matchLabels"][consts.LABEL_COMPONENT] == consts.TEXT_NODE
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in anti
    kubernetes_validate.validate(sts, K8S_VERSION, strict=True)


def test_an_unknown_anti_affinity_type_is_refused():
    with pytest.raises(InvalidSpec, match="podAntiAffinityType"):
        parse_session(body(textNodes={"affinity": {"podAntiAffinityType": "sometimes"}}))


def test_every_postgres_has_an_hour_to_recover_before_liveness_counts():
    objects = by_name(desired_objects(session(), CONFIG))
    postgres = [container for name in ("StatefulSet/demo-text-a", "StatefulSet/demo-analytics-db")
                for container in containers(objects[name]) if container["name"] == "postgres"]
    assert len(postgres) == 2
    for container in postgres:
        startup = container["startupProbe"]
        assert startup["exec"]["command"][0] == "pg_isready"
        assert startup["periodSeconds"] * startup["failureThreshold"] == 3600
        # the liveness probe starts only once the startup probe succeeded: no initial delay of its own
        assert "initialDelaySeconds" not in container["livenessProbe"]
        assert container["readinessProbe"]["exec"] == startup["exec"]


def test_the_text_node_count_follows_the_spec():
    objects = by_name(desired_objects(session(textNodes={"count": 5}), CONFIG))
    assert {name for name in objects if name.startswith("StatefulSet/demo-text-")} == {
        f"StatefulSet/demo-text-{node_id}" for node_id in "abcde"
    }
    assert objects["ConfigMap/demo-config"]["data"]["COEDIT_TEXT_NODES"].count(",") == 4


def test_redis_keeps_an_append_only_file_on_its_volume():
    redis = by_name(desired_objects(session(), CONFIG))["StatefulSet/demo-redis"]
    args = containers(redis)[0]["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--dir") + 1] == "/data"
    chat = by_name(desired_objects(session(), CONFIG))["Deployment/demo-chat"]
    env = env_of(containers(chat)[0])
    assert env["COEDIT_REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@demo-redis:6379/0"
    assert list(env).index("REDIS_PASSWORD") < list(env).index("COEDIT_REDIS_URL")  # $(VAR) needs it first


def test_analytics_reaches_its_own_postgres_with_the_generated_password():
    objects = by_name(desired_objects(session(), CONFIG))
    env = env_of(containers(objects["Deployment/demo-analytics"])[0])
    assert "@demo-analytics-db:5432/" in env["COEDIT_DATABASE_URL"]["value"]
    db = env_of(containers(objects["StatefulSet/demo-analytics-db"])[0])
    assert db["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "postgres-password"


def test_agents_get_their_group_persona_model_and_key():
    spec = {
        "llm": {"model": "m1", "apiKeySecret": {"name": "openai"}},
        "agents": {"replicas": 3, "groups": [{"name": "a", "persona": "bold", "weight": 2},
                                             {"name": "b", "model": "m2"}]},
    }
    objects = by_name(desired_objects(session(**spec), CONFIG))
    a, b = objects["Deployment/demo-agent-a"], objects["Deployment/demo-agent-b"]
    assert (a["spec"]["replicas"], b["spec"]["replicas"]) == (2, 1)
    env_a, env_b = env_of(containers(a)[0]), env_of(containers(b)[0])
    assert env_a["COEDIT_PERSONA"]["value"] == "bold"
    assert (env_a["COEDIT_MODEL"]["value"], env_b["COEDIT_MODEL"]["value"]) == ("m1", "m2")
    assert env_a["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "openai", "key": "OPENAI_API_KEY"}
    assert env_a["COEDIT_AGENT_ID"]["value"] == "a/$(POD_NAME)"
    assert "readinessProbe" not in containers(a)[0]


def test_agents_are_at_zero_once_a_stop_condition_is_met():
    raw = body(budget={"tokens": 100}, agents={"replicas": 5})
    raw["status"] = {"tokens": {"used": 100, "limit": 100}, "completion": {"reason": "BudgetExhausted"}}
    spent = parse_session(raw)
    assert completed(spent)
    assert group_replicas(spent, completed(spent)) == {"writers": 0}
    del raw["status"]["completion"]  # the next reconcile found no stop condition (e.g. a bigger budget)
    assert not completed(parse_session(raw))


def test_agents_get_their_groups_prices():
    objects = by_name(desired_objects(session(
        llm={"priceInput": 0.15, "priceOutput": 0.6},
        agents={"replicas": 2, "groups": [{"name": "a"}, {"name": "b", "priceOutput": 2.5}]}), CONFIG))
    envs = [env_of(containers(objects[f"Deployment/demo-agent-{g}"])[0]) for g in "ab"]
    assert [(e["COEDIT_PRICE_INPUT"]["value"], e["COEDIT_PRICE_OUTPUT"]["value"]) for e in envs] == [
        ("0.15", "0.6"), ("0.15", "2.5")]


@given(st.integers(0, 1000), st.lists(st.integers(1, 50), min_size=1, max_size=20))
def test_spread_hands_out_exactly_the_total_by_weight(total, weights):
    shares = spread(total, weights)
    assert sum(shares) == total
    for share, weight in zip(shares, weights):
        assert abs(share - total * weight / sum(weights)) < 1


def test_web_ingress_has_host_class_and_tls():
    objects = by_name(desired_objects(session(ingress={
        "host": "x.example.com", "className": "nginx", "tls": {"secretName": "cert"},
        "annotations": {"cert-manager.io/cluster-issuer": "le"}}), CONFIG))
    ingress = objects["Ingress/demo-web"]["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [{"hosts": ["x.example.com"], "secretName": "cert"}]
    assert ingress["rules"][0]["host"] == "x.example.com"
    assert "Ingress/demo-web" not in by_name(desired_objects(session(), CONFIG))


def test_behind_its_ingress_the_web_counts_forwarded_clients():
    def web_env(**spec) -> dict:
        web = by_name(desired_objects(session(**spec), CONFIG))["Deployment/demo-web"]
        [container] = web["spec"]["template"]["spec"]["containers"]
        return {e["name"]: e.get("value") for e in container["env"]}

    assert web_env(ingress={"host": "x.example.com"})["COEDIT_FORWARDED_ALLOW_IPS"] == "*"
    assert "COEDIT_FORWARDED_ALLOW_IPS" not in web_env()


def test_network_policies_keep_internal_routes_to_the_session():
    objects = by_name(desired_objects(session(), CONFIG))
    internal = objects["NetworkPolicy/demo-internal"]["spec"]
    assert internal["podSelector"] == {"matchLabels": {consts.LABEL_INSTANCE: "demo"}}
    assert internal["ingress"] == [{"from": [{"podSelector": {"matchLabels": {consts.LABEL_INSTANCE: "demo"}}}]}]
    web = objects["NetworkPolicy/demo-web"]["spec"]
    assert web["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8000}]}]
    operator = objects["NetworkPolicy/demo-operator"]["spec"]["ingress"][0]["from"][0]
    assert operator["podSelector"]["matchLabels"] == consts.OPERATOR_POD_LABELS


def test_prometheus_may_scrape_every_session_pod_unless_configured_otherwise():
    objects = by_name(desired_objects(session(), CONFIG))
    metrics = objects["NetworkPolicy/demo-metrics"]["spec"]
    assert metrics["podSelector"] == {"matchLabels": {consts.LABEL_INSTANCE: "demo"}}
    assert metrics["ingress"] == [{"from": consts.METRICS_SCRAPERS, "ports": [{"protocol": "TCP", "port": 8000}]}]
    own = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    objects = by_name(desired_objects(session(), CONFIG.model_copy(update={"metrics_from": own})))
    assert objects["NetworkPolicy/demo-metrics"]["spec"]["ingress"][0]["from"] == own
    assert "NetworkPolicy/demo-metrics" not in by_name(desired_objects(session(), CONFIG.model_copy(
        update={"metrics_from": []})))


def test_a_config_change_rolls_the_pods():
    before, after = session(), session(document={"topic": "another"})
    assert config_hash(before) != config_hash(after)
    template = by_name(desired_objects(after, CONFIG))["Deployment/demo-web"]["spec"]["template"]
    assert template["metadata"]["annotations"][consts.ANNOTATION_CONFIG_HASH] == config_hash(after)


def test_the_image_comes_from_the_spec_or_the_operator():
    default = by_name(desired_objects(session(), CONFIG))["Deployment/demo-web"]
    assert containers(default)[0]["image"] == "registry.example/coedit:1.0"
    own = by_name(desired_objects(session(image="mine:2"), CONFIG))["Deployment/demo-web"]
    assert containers(own)[0]["image"] == "mine:2"


def test_resources_from_the_spec_override_the_defaults():
    chat = by_name(desired_objects(session(chat={"resources": {"limits": {"memory": "1Gi"}}}), CONFIG))["Deployment/demo-chat"]
    assert containers(chat)[0]["resources"] == {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}}


def test_the_secrets_hold_fresh_random_credentials():
    first, second = new_secret_values(), new_secret_values()
    assert first.keys() == {"auth-token", "postgres-password", "redis-password"}
    assert all(first[key] != second[key] and len(first[key]) >= 24 for key in first)
    kubernetes_validate.validate(internal_secret(session(), first), K8S_VERSION, strict=True)
    groups = session(agents={"groups": [{"name": "a"}, {"name": "b"}]})
    tokens = [obj["stringData"]["token"] for obj in new_secrets(groups)[1:] + new_secrets(groups)[1:]]
    assert len(set(tokens)) == 4 and all(len(token) >= 32 for token in tokens)
    for obj in new_secrets(groups):
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
