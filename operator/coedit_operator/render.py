"""`coedit operator render -f SESSION.yaml`: the children as YAML, from the same builders."""

import sys
from pathlib import Path

import yaml

from coedit_operator.config import BuildConfig
from coedit_operator.objects import desired_objects
from coedit_operator.session_objects import new_secrets
from coedit_operator.settings import RenderSettings
from coedit_operator.spec import InvalidSpec, parse_session


def render_objects(body: dict, config: BuildConfig, namespace: str | None = None) -> list[dict]:
    if namespace:
        body = {**body, "metadata": {**body.get("metadata", {}), "namespace": namespace}}
    session = parse_session(body)
    return [*new_secrets(session), *desired_objects(session, config)]


def render_file(path: Path, config: BuildConfig, namespace: str | None = None) -> str:
    """Every session in the file (multi-document YAML), each child as one YAML document."""
    objects = [
        obj for body in yaml.safe_load_all(path.read_text(encoding="utf-8")) if body
        for obj in render_objects(body, config, namespace)
    ]
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def main(settings: RenderSettings) -> None:
    try:
        print(render_file(settings.file, settings, namespace=settings.namespace), end="")
    except InvalidSpec as error:
        sys.exit(f"invalid session in {settings.file}: {error}")


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:  # plain YAML for reviewers, no &id001 anchors
        return True
