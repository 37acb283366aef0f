"""The web UI's OpenAPI, fuzzed (tests/fuzzing.py) over the whole session."""

import httpx
import pytest
import schemathesis

from tests import fuzzing
from tests.conftest import AUTH


@pytest.fixture(scope="module")
def web_schema(session):
    yield fuzzing.load(session.web)
    # the fuzzing pauses and resumes at random: the tests after it find the session running
    httpx.post(f"{session.url}/api/session/resume", json={}, headers=AUTH, timeout=30).raise_for_status()


schema = schemathesis.pytest.from_fixture("web_schema")


@schema.parametrize()
def test_every_operation_keeps_its_contract(case):
    fuzzing.check(case)
