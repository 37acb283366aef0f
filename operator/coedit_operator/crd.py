"""The CoEditSession CRD, generated from the pydantic models in `spec.py` so the
schema the API server enforces and the one the operator parses never drift apart:
descriptions, bounds and patterns from the fields, CEL rules (`x-kubernetes-validations`)
from the models that check across fields, quantities as `x-kubernetes-int-or-string`.
`python -m coedit_operator.crd > crds/coeditsession.yaml` rewrites the file; a test
checks it is current."""

import sys
import types
import typing

import yaml
from pydantic import BaseModel

from coedit_operator import consts
from coedit_operator.spec import SESSION_NAME_PATTERN, SessionSpec, SessionStatus

DROPPED_KEYS = {"title", "additionalProperties"}
# What parse_session checks of the name, at admission: children's names derive from it.
NAME_RULES = [
    {"rule": f"self.metadata.name.size() <= {consts.MAX_SESSION_NAME}",
     "message": f"metadata.name: at most {consts.MAX_SESSION_NAME} characters (child names derive from it)"},
    {"rule": f"self.metadata.name.matches('{SESSION_NAME_PATTERN}')",
     "message": "metadata.name: lower-case letters, digits and '-', starting with a letter (a DNS label)"},
]


def _structural(node: object, defs: dict) -> object:
    """Inline $refs, turn `X | None` into X and drop what a structural schema forbids. Not
    nullable: the API server prunes an explicit null, which the models read as unset."""
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = _structural(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {**target, **_structural({k: v for k, v in node.items() if k != "$ref"}, defs)}
    if "anyOf" in node:
        branches = [branch for branch in node["anyOf"] if branch.get("type") != "null"]
        if len(branches) == 1:
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            merged = {**_structural(branches[0], defs), **_structural(rest, defs)}
            if merged.get("default", 0) is None:
                del merged["default"]
            return merged
    if node.get("additionalProperties") not in (None, False):  # a map: keep its value schema
        node = {**node, "x-map": node["additionalProperties"]}
    out = {k: _structural(v, defs) for k, v in node.items() if k not in DROPPED_KEYS | {"properties"}}
    if "properties" in node:  # property names are data, not keywords
        out["properties"] = {name: _structural(prop, defs) for name, prop in node["properties"].items()}
    if "x-map" in out:
        out["additionalProperties"] = out.pop("x-map")
    if "const" in out:  # Literal with one value
        out["enum"] = [out.pop("const")]
    return out


def _model_of(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        models = [m for m in map(_model_of, typing.get_args(annotation)) if m]
        return models[0] if models else None
    return None


def _fill_defaults(schema: dict, model: type[BaseModel]) -> None:
    """JSON Schema has no default for `default_factory` fields; the API server needs
    one on each object level so that the nested defaults apply to a sparse spec."""
    for name, field in model.model_fields.items():
        prop = schema["properties"][field.alias or name]
        if field.default_factory is not None and "default" not in prop:
            value = field.default_factory()
            prop["default"] = {} if isinstance(value, BaseModel) else [
                item.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True) for item in value
            ]
        nested = _model_of(field.annotation)
        if nested is not None:
            _fill_defaults(prop, nested)
        elif typing.get_origin(field.annotation) is list and (item := _model_of(typing.get_args(field.annotation)[0])):
            _fill_defaults(prop["items"], item)


def openapi_schema(model: type[BaseModel]) -> dict:
    raw = model.model_json_schema(by_alias=True)
    schema = _structural({k: v for k, v in raw.items() if k != "$defs"}, raw.get("$defs", {}))
    _fill_defaults(schema, model)
    return schema


def crd() -> dict:
    spec_schema = openapi_schema(SessionSpec)
    status_schema = openapi_schema(SessionStatus)
    column = lambda name, path, kind="string", **extra: {"name": name, "type": kind, "jsonPath": path, **extra}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{consts.PLURAL}.{consts.GROUP}"},
        "spec": {
            "group": consts.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": consts.KIND,
                "plural": consts.PLURAL,
                "singular": consts.SINGULAR,
                "shortNames": [consts.SHORT_NAME],
                "categories": ["all", "coedit"],
            },
            "versions": [{
                "name": consts.VERSION,
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": "A document that several AI agents write together (see docs/operator.md).",
                    "properties": {
                        "apiVersion": {"type": "string", "description": "coedit.io/v1"},
                        "kind": {"type": "string", "description": consts.KIND},
                        "metadata": {"type": "object", "description": "the session's name prefixes its children's"},
                        "spec": {**spec_schema, "default": {}, "description": "what the session should be"},
                        "status": {**status_schema, "description": "what the operator last saw (written by it)"},
                    },
                    "x-kubernetes-validations": NAME_RULES,
                }},
                "subresources": {
                    "status": {},
                    "scale": {
                        "specReplicasPath": ".spec.agents.replicas",
                        "statusReplicasPath": ".status.agents.replicas",
                        "labelSelectorPath": ".status.agents.selector",
                    },
                },
                "additionalPrinterColumns": [
                    column("Phase", ".status.phase"),
                    column("Agents", ".status.agents.summary", description="ready/desired agents"),
                    column("Version", ".status.documentVersion", "integer", description="document version"),
                    column("Tokens", ".status.tokens.summary", description="tokens used/limit"),
                    column("Reason", ".status.completion.reason", description="the stop condition met"),
                    column("URL", ".status.url", priority=1),
                    column("Age", ".metadata.creationTimestamp", "date"),
                ],
            }],
        },
    }


def render() -> str:
    header = "# Generated by `python -m coedit_operator.crd` from operator/coedit_operator/spec.py. Do not edit.\n"
    return header + yaml.safe_dump(crd(), sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
