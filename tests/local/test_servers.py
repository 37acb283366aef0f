"""Ports for the servers and services the tests and `coedit up` start, and who
may reach their PostgreSQL."""

import asyncio
import getpass
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import asyncpg
import pytest

from coedit.local.servers import PostgresServer, _ephemeral_ports_start, free_port, port_is_free, postgres_bindir


def test_free_ports_are_below_the_ephemeral_range_and_never_handed_out_twice():
    """An outgoing connection can take any port of the ephemeral range before our
    server binds it (a text node calling its peers did, once: "address in use")."""
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(port < _ephemeral_ports_start() for port in ports)


def test_a_span_of_free_ports_in_a_row():
    first = free_port(span=91)
    assert first + 90 < _ephemeral_ports_start()
    assert all(port_is_free(port) for port in range(first, first + 91))


def test_a_bound_port_is_not_free():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_is_free(sock.getsockname()[1])


def test_postgres_is_reached_only_through_a_socket_its_owner_alone_can_enter(postgres):
    """`trust` on 127.0.0.1 let every local user read and write every session."""
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", postgres.port)) != 0  # no TCP at all
    assert stat.S_IMODE(postgres.socket_dir.stat().st_mode) == 0o700
    owner = postgres.user or getpass.getuser()
    assert pwd.getpwuid(postgres.socket_dir.stat().st_uid).pw_name == owner
    assert asyncio.run(_execute(postgres.url, "select 1")) == 1  # the services' own way in still works


@pytest.mark.skipif(os.geteuid() != 0, reason="trying as another user needs root to switch to it")
def test_another_local_user_cannot_connect(postgres):
    psql = str(postgres_bindir() / "psql")
    attempt = subprocess.run(["runuser", "-u", "nobody", "--", psql, postgres.url, "-c", "select 1"],
                             capture_output=True, text=True, timeout=30)
    assert attempt.returncode != 0 and "Permission denied" in attempt.stderr, attempt.stderr
    mine = subprocess.run([psql, postgres.url, "-tAc", "select 1"], capture_output=True, text=True, timeout=30)
    assert mine.stdout.strip() == "1", mine.stderr  # the same command as the session's user works


def test_a_data_directory_too_deep_for_a_socket_gets_a_private_one(tmp_path):
    deep = Path(tempfile.mkdtemp(prefix="coedit-test-pg-")) / ("d" * 100) / "pg"
    server = PostgresServer(deep, fsync=False)
    assert server.socket_dir != deep and stat.S_IMODE(server.socket_dir.stat().st_mode) == 0o700
    try:
        server.start()
        assert asyncio.run(_execute(server.url, "select 1")) == 1
    finally:
        server.stop()
        shutil.rmtree(deep.parents[1], ignore_errors=True)


def test_servers_copied_from_one_template_are_apart(postgres_factory, postgres_template):
    first, second = postgres_factory(), postgres_factory()
    assert first.template == second.template == postgres_template
    asyncio.run(_execute(first.url, "create table only_here (n int)"))
    assert asyncio.run(_execute(second.url, "select to_regclass('only_here') is null")) is True
    assert not (postgres_template / "base").samefile(first.data_dir / "base")


async def _execute(url: str, sql: str):
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()
