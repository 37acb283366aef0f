import copy

import jsonschema
import kubernetes_validate
import pytest
import yaml

from coedit_operator import consts
from coedit_operator.crd import render
from coedit_operator.spec import parse_session
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


def _structural_problems(node: dict, path: str = "") -> list[str]:
    """The rules kube-apiserver enforces on a structural schema that matter here."""
    problems = []
    if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{path}: no type")
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
