"""schemathesis over a running service's OpenAPI on a fixed budget (docs/reliability.md, "Bad input"):
the same cases on every run (a fixed seed), a bounded number per operation, and the
three checks the contract promises: no 5xx, every status documented, every body
matching its documented schema."""

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from coedit.local.processes import ServiceProcess
from tests.conftest import AUTH

MAX_EXAMPLES = 10  # per operation in the fuzzing phase; the coverage phase adds its boundary cases
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
CONFIG = {
    "seed": 19,
    "generation": {"max-examples": MAX_EXAMPLES},
    "request-timeout": 10,
    # a live stream never ends: its first event, or what came within half a second
    "max-stream-events": 1,
    "operations": [
        {"include-path-regex": "/stream$|^/events$", "request-timeout": 0.5},
        # a batch of any of eight event types: its coverage phase alone was 900 cases
        {"include-path": "/api/events", "phases": {"coverage": {"enabled": False}}},
    ],
}


def load(service: ServiceProcess, **config) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(
        f"{service.url}/openapi.json", config=schemathesis.Config.from_dict(CONFIG | config))


def check(case: schemathesis.Case) -> None:
    """One generated request, with the service's token (the fuzzing is of what an
    authorised caller can send; refusing the unauthorised is tested apart)."""
    case.call_and_validate(headers=AUTH, checks=CHECKS)
