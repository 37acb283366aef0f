"""The web UI's OpenAPI, fuzzed (tests/fuzzing.py) over the whole session."""

import pytest
import schemathesis

from tests import fuzzing


@pytest.fixture(scope="module")
def web_schema(session):
    return fuzzing.load(session.web)


schema = schemathesis.pytest.from_fixture("web_schema")


@schema.parametrize()
def test_every_operation_keeps_its_contract(case):
    fuzzing.check(case)
