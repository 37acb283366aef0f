import copy

import celpy
import jsonschema
import kubernetes_validate
import pytest
import yaml

from coedit_operator import consts
from coedit_operator.crd import render
from coedit_operator.spec import InvalidSpec, parse_session, parse_status
from tests.operator.helpers import EXAMPLES, K8S_VERSION, ROOT, body, load_example

CRD_FILE = ROOT / "crds" / "coeditsession.yaml"


@pytest.fixture(scope="module")
def crd() -> dict:
    return yaml.safe_load(CRD_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def schema(crd) -> dict:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_the_crd_file_is_generated_from_the_models():
    assert CRD_FILE.read_text(encoding="utf-8") == render(), "run: python -m coedit_operator.crd > crds/coeditsession.yaml"


def test_the_crd_is_a_valid_apiextensions_v1_object(crd):
    kubernetes_validate.validate(crd, K8S_VERSION, strict=True)


def test_the_crd_declares_names_subresources_and_columns(crd):
    spec = crd["spec"]
    assert spec["names"]["shortNames"] == [consts.SHORT_NAME]
    version = spec["versions"][0]
    assert version["subresources"]["scale"]["specReplicasPath"] == ".spec.agents.replicas"
    assert version["subresources"]["status"] == {}
    columns = [column["name"] for column in version["additionalPrinterColumns"]]
    assert columns[:4] == ["Phase", "Agents", "Version", "Tokens"] and "Age" in columns


INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


def _structural_problems(node: dict, path: str = "") -> list[str]:
    """The rules kube-apiserver enforces on a structural schema that matter here."""
    problems = []
    if node.get("x-kubernetes-int-or-string"):  # the one anyOf allowed, and no type
        if node.get("anyOf") != INT_OR_STRING or "type" in node:
            problems.append(f"{path}: int-or-string is anyOf integer, string and no type")
        node = {key: value for key, value in node.items() if key != "anyOf"}
    elif "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{path}: no type")
    if node.get("nullable"):
        problems.append(f"{path}: nullable (an explicit null should be pruned, as the models read it)")
    for bad in ("$ref", "anyOf", "oneOf", "allOf", "title", "const"):
        if bad in node:
            problems.append(f"{path}: {bad}")
    if node.get("additionalProperties") is False or (node.get("properties") and "additionalProperties" in node):
        problems.append(f"{path}: additionalProperties")
    for name, prop in (node.get("properties") or {}).items():
        problems += _structural_problems(prop, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        problems += _structural_problems(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        problems += _structural_problems(node["additionalProperties"], f"{path}{{}}")
    return problems


def test_the_schema_is_structural(schema):
    assert _structural_problems(schema) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_examples_validate_against_the_schema(schema, path):
    jsonschema.validate(load_example(path), schema)


def test_the_schema_refuses_bad_specs(schema):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body(textNodes={"count": 0}), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body(agents={"groups": [{"persona": "nameless"}]}), schema)


def apply_defaults(schema: dict, value):
    """What the API server's defaulting does with the schema's `default`s."""
    if isinstance(value, dict):
        for name, prop in (schema.get("properties") or {}).items():
            if name not in value and "default" in prop:
                value[name] = copy.deepcopy(prop["default"])
            if name in value:
                apply_defaults(prop, value[name])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            apply_defaults(schema["items"], item)
    return value


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_schema_defaults_match_the_model_defaults(schema, path):
    raw = load_example(path)
    defaulted = apply_defaults(schema, copy.deepcopy(raw))
    assert parse_session(defaulted).spec == parse_session(raw).spec


def test_an_empty_spec_defaults_to_the_model_defaults(schema):
    defaulted = apply_defaults(schema, body())
    assert "groups" in defaulted["spec"]["agents"]
    assert parse_session(defaulted).spec == parse_session(body()).spec


def _fields(node: dict, path: str = ""):
    for name, prop in (node.get("properties") or {}).items():
        yield f"{path}.{name}", prop
        yield from _fields(prop, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _fields(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _fields(node["additionalProperties"], f"{path}{{}}")


def test_every_field_has_a_description(schema):
    """What `kubectl explain coeditsessions.spec...` shows."""
    fields = list(_fields(schema))
    assert len(fields) > 100
    assert [path for path, prop in fields if not prop.get("description")] == []


def test_quantities_take_integers_as_kubernetes_does(schema):
    spec = {"textNodes": {"resources": {"requests": {"cpu": 1, "memory": "256Mi"}, "limits": {"cpu": "1500m"}},
                          "postgres": {"storage": {"size": 2147483648}}}}
    jsonschema.validate(body(**spec), schema)
    parsed = parse_session(body(**spec)).spec.text_nodes
    assert parsed.resources.requests == {"cpu": "1", "memory": "256Mi"}
    assert parsed.postgres.storage.size == "2147483648"
    for bad in ({"resources": {"requests": {"cpu": "lots"}}}, {"resources": {"limits": {"memory": True}}},
                {"postgres": {"storage": {"size": "1Pi"}}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(body(textNodes=bad), schema)
        with pytest.raises(InvalidSpec):
            parse_session(body(textNodes=bad))


def test_condition_types_are_free_form(schema):
    """metav1.Condition: a condition type a newer operator adds needs no CRD upgrade."""
    condition = {"type": "ReplicationLagging", "status": "True", "reason": "PeerBehind",
                 "message": "node b is 40 edits behind", "lastTransitionTime": "2026-12-01T20:00:00Z"}
    status_schema = schema["properties"]["status"]
    jsonschema.validate({"conditions": [condition]}, status_schema)
    assert parse_status({"status": {"conditions": [condition]}}).conditions[0].type == "ReplicationLagging"
    conditions = status_schema["properties"]["conditions"]
    assert "enum" not in conditions["items"]["properties"]["type"]
    assert set(conditions["items"]["required"]) >= {"type", "status", "reason", "lastTransitionTime"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"conditions": [condition | {"reason": "not camel case"}]}, status_schema)


# -- CEL rules (x-kubernetes-validations), evaluated with cel-python as the API server would --

def _rules(node: dict, path: str = ""):
    """(path, schema node, rule) for every CEL rule, the root's included."""
    for rule in node.get("x-kubernetes-validations") or []:
        yield path, node, rule
    for name, prop in (node.get("properties") or {}).items():
        yield from _rules(prop, f"{path}.{name}")


def _at(value: dict, path: str):
    for part in filter(None, path.split(".")):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def cel_violations(schema: dict, obj: dict) -> list[str]:
    """The messages of the rules `obj` breaks (rules apply where their field is present)."""
    env = celpy.Environment()
    broken = []
    for path, _node, rule in _rules(schema):
        value = _at(obj, path)
        if value is None:
            continue
        program = env.program(env.compile(rule["rule"]))
        if not program.evaluate({"self": celpy.json_to_cel(value)}):
            broken.append(rule["message"])
    return broken


def test_cel_rules_are_where_expected_and_cheap(schema):
    rules = {path: [rule["rule"] for _, _, rule in _rules(schema) if _ == path] for path, _, _ in _rules(schema)}
    assert set(rules) == {"", ".spec.ingress"}
    for path, node, rule in _rules(schema):
        celpy.Environment().compile(rule["rule"])  # parses
        assert rule["message"]
    # the API server estimates a rule's cost from maxLength: every string a rule reads has one
    assert schema["properties"]["spec"]["properties"]["ingress"]["properties"]["host"]["maxLength"] == 253


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_examples_pass_the_cel_rules(schema, path):
    assert cel_violations(schema, load_example(path)) == []


@pytest.mark.parametrize("name, spec, message", [
    ("demo", {"ingress": {"tls": {"secretName": "demo-tls"}}}, "ingress.tls needs ingress.host"),
    ("demo", {"ingress": {"host": "", "tls": {"secretName": "demo-tls"}}}, "ingress.tls needs ingress.host"),
    ("a" * (consts.MAX_SESSION_NAME + 1), {}, f"at most {consts.MAX_SESSION_NAME} characters"),
    ("1st-session", {}, "starting with a letter"),
    ("my.session", {}, "starting with a letter"),
])
def test_cel_rules_refuse_at_admission_what_the_operator_refuses(schema, name, spec, message):
    obj = body(name=name, **spec)
    broken = cel_violations(schema, obj)
    assert len(broken) == 1 and message in broken[0], broken
    with pytest.raises(InvalidSpec):
        parse_session(obj)


def test_cel_rules_accept_what_the_operator_accepts(schema):
    obj = body(name="a" * consts.MAX_SESSION_NAME,
               ingress={"host": "demo.example.com", "tls": {"secretName": "demo-tls"}})
    assert cel_violations(schema, obj) == []
    parse_session(obj)
