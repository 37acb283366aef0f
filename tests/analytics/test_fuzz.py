"""Analytics' OpenAPI, fuzzed (tests/fuzzing.py) on a real PostgreSQL."""

import pytest
import schemathesis

from tests import fuzzing


@pytest.fixture(scope="module")
def analytics_schema(shared_analytics):
    return fuzzing.load(shared_analytics)


schema = schemathesis.pytest.from_fixture("analytics_schema")


@schema.parametrize()
def test_every_operation_keeps_its_contract(case):
    fuzzing.check(case)
