"""The chat's OpenAPI, fuzzed (tests/fuzzing.py) on a real Redis."""

import pytest
import schemathesis

from coedit.local.processes import ServiceProcess
from coedit.local.servers import RedisServer
from tests import fuzzing
from tests.conftest import AUTH_ENV


@pytest.fixture(scope="module")
def chat_schema(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chat-fuzz")
    redis = RedisServer(tmp / "redis").start()
    service = ServiceProcess("chat", ["--redis-url", redis.url], tmp, env=AUTH_ENV).start()
    yield fuzzing.load(service)
    service.stop()
    redis.stop()


schema = schemathesis.pytest.from_fixture("chat_schema")


@schema.parametrize()
def test_every_operation_keeps_its_contract(case):
    fuzzing.check(case)
