"""Start-up beside a PostgreSQL that is not ready yet (`coedit up` and a pod both
start the node and its database close together)."""

import asyncpg
import pytest

from coedit.text_node import app
from coedit.text_node.store import Store


@pytest.mark.parametrize("not_yet", [
    ConnectionRefusedError(111, "Connection refused"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
], ids=["refused", "starting-up"])
async def test_the_node_waits_for_its_database_instead_of_exiting(monkeypatch, not_yet):
    attempts = []

    async def connect(cls, database_url: str):
        attempts.append(database_url)
        if len(attempts) < 3:
            raise not_yet
        return "store"

    monkeypatch.setattr(Store, "connect", classmethod(connect))
    assert await app._connect_with_retries("postgresql://db") == "store"
    assert len(attempts) == 3
