"""Fixtures shared by every test: real, throwaway PostgreSQL and Redis servers on
free ports, and a factory for coedit's own commands as processes."""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from coedit.local.servers import PostgresServer, RedisServer
from coedit.local.processes import ServiceProcess

# Property tests explore the same examples on every run: the suite is deterministic.
settings.register_profile("deterministic", derandomize=True, deadline=None)
settings.load_profile("deterministic")

AUTH_TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {AUTH_TOKEN}"}
AUTH_ENV = {"COEDIT_AUTH_TOKEN": AUTH_TOKEN}  # how a service gets its token: never a flag (`ps` shows flags)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[Path]:
    """A new cluster's data directory, made once a run: every server of
    `postgres_factory` starts from a copy of it."""
    base = Path(tempfile.mkdtemp(prefix="coedit-test-pg-template-"))
    server = PostgresServer(base / "template", fsync=False).start()
    server.stop()
    yield server.data_dir
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_factory(postgres_template) -> Iterator:
    """Call it to get a new, empty PostgreSQL server (one per text node, like production).
    Data lives outside pytest's temporary folder: pytest resets that folder to mode
    0700 when a run starts, and the server (not root) would lose access to it."""
    servers: list[PostgresServer] = []
    base = Path(tempfile.mkdtemp(prefix="coedit-test-pg-"))

    def make(name: str = "pg") -> PostgresServer:
        server = PostgresServer(base / f"{name}-{len(servers)}", fsync=False, template=postgres_template).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres(postgres_factory) -> PostgresServer:
    return postgres_factory()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator:
    """Call it with a command and its flags to start a coedit service as a process
    (with the tests' token in its environment, unless `env` says otherwise)."""
    started: list[ServiceProcess] = []

    def make(command: str, args: list[str], env: dict[str, str] | None = None, **kwargs) -> ServiceProcess:
        process = ServiceProcess(command, args, tmp_path, env={**AUTH_ENV, **(env or {})}, **kwargs)
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()
