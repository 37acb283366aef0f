"""A text node's OpenAPI, fuzzed (tests/fuzzing.py): one node on a real PostgreSQL,
internal routes included."""

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis

from coedit.local.processes import ServiceProcess
from coedit.local.servers import PostgresServer
from tests import fuzzing
from tests.conftest import AUTH_ENV
from tests.text_node.conftest import INITIAL_TEXT


@pytest.fixture(scope="module")
def text_node_schema():
    base = Path(tempfile.mkdtemp(prefix="coedit-test-fuzz-"))  # not under basetemp: see tests/conftest.py
    database = PostgresServer(base / "pg", fsync=False).start()
    node = ServiceProcess("text-node", ["--node-id", "a", "--database-url", database.url,
                                        "--initial-text", INITIAL_TEXT], base, env=AUTH_ENV).start()
    yield fuzzing.load(node)
    node.stop()
    database.stop()
    shutil.rmtree(base, ignore_errors=True)


schema = schemathesis.pytest.from_fixture("text_node_schema")


@schema.parametrize()
def test_every_operation_keeps_its_contract(case):
    fuzzing.check(case)
