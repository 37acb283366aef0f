"""Ports for the servers and services the tests and `coedit up` start."""

import socket

from coedit.local.servers import _ephemeral_ports_start, free_port, port_is_free


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
