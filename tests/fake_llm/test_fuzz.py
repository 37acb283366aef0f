"""The fake model's OpenAPI, fuzzed (tests/fuzzing.py)."""

import pytest
import schemathesis

from coedit.local.processes import ServiceProcess
from tests.conftest import AUTH_ENV
from tests import fuzzing


@pytest.fixture(scope="module")
def fake_llm_schema(tmp_path_factory):
    service = ServiceProcess("fake-llm", [], tmp_path_factory.mktemp("fake-llm"), env=AUTH_ENV).start()
    yield fuzzing.load(service)
    service.stop()


schema = schemathesis.pytest.from_fixture("fake_llm_schema")


@schema.parametrize()
def test_every_operation_keeps_its_contract(case):
    fuzzing.check(case)
