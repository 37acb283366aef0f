"""The real operator (kopf) against the kmock Kubernetes emulator, plus a stub text
service answering `/api/budget` and `/api/document` for every node (and, for
`spec.suspend`, a session's `/api/session` as the chat answers it). Shared by the
integration tests and `bench/operator.py`."""

import asyncio
import base64
import collections
import contextlib
import itertools
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import attrs
import httpx
import kopf
import yaml
from aiohttp import web
from kmock import KubernetesEmulator, action
from kmock._internal.k8s import KubernetesError

from coedit_operator import consts, kube
from coedit_operator.main import operate
from coedit_operator.settings import OperatorSettings

CES = f"/apis/{consts.API_VERSION}/namespaces/{{ns}}/{consts.PLURAL}"


@attrs.define(kw_only=True)
class Emulator(KubernetesEmulator):
    """kmock plus what kopf and the operator rely on: a resourceVersion bumped on every
    write (kopf waits for its own patches to come back through the watch), `generation`
    bumped on spec changes, a uid and, with generateName (Events), a name for each new object, lists
    and watches filtered by label selectors, and a server-side apply of a missing object
    creating it (kmock answers 404; kube-apiserver creates). Other applies merge as
    kmock's patches do: lists replace, maps merge (a field the operator stops setting
    stays, where kube-apiserver would remove it).
    A StatefulSet's volume claim templates are immutable, as in Kubernetes.
    `requests` counts what it served, by (method, resource plural, subresource or
    "watch"), so tests and the benchmark see how many calls an operator makes.
    It keeps only the requests in flight in its log: kmock matches each request against
    the whole log, which is quadratic over a long run (tests here read objects, not requests)."""

    _versions: itertools.count = attrs.field(factory=lambda: itertools.count(2), init=False)
    _last_version: int = attrs.field(default=1, init=False)
    counted: collections.Counter = attrs.field(factory=collections.Counter, init=False)

    async def _handle(self, request):
        if request.resource is not None:
            kind = "watch" if request.params.get("watch") == "true" else request.subresource or ""
            self.counted[(request.method.value.upper(), request.resource.plural, kind)] += 1
        if request.action == action.UPDATE and _is_apply(request) and not self._exists(request):
            created = attrs.evolve(request, action=action.CREATE)
            self._requests[self._requests.index(request)] = created  # kmock routes what its log holds
            request = created
        if request.resource is not None and isinstance(request.data, (dict, list)):
            self._last_version = next(self._versions)
            version = str(self._last_version)
            if request.action == action.CREATE and isinstance(request.data, dict):
                meta = request.data.setdefault("metadata", {})
                meta["resourceVersion"] = version
                meta.setdefault("generation", 1)
                meta.setdefault("uid", str(uuid.uuid4()))  # kopf tells objects apart by it
                if not meta.get("name") and meta.get("generateName"):
                    meta["name"] = f"{meta['generateName']}{version}"
                if request.resource.plural == "secrets" and "stringData" in request.data:  # as kube-apiserver
                    written = {key: base64.b64encode(value.encode()).decode()
                               for key, value in request.data.pop("stringData").items()}
                    request.data["data"] = {**(request.data.get("data") or {}), **written}
            elif request.action == action.UPDATE and isinstance(request.data, list):
                self._check_tests(request)
                request.data.append({"op": "add", "path": "/metadata/resourceVersion", "value": version})
            elif request.action == action.UPDATE:
                self._check_immutable(request)
                meta = request.data.setdefault("metadata", {})
                meta["resourceVersion"] = version
                key = (request.resource, request.namespace, request.name)
                if "spec" in request.data and request.subresource != "status" and key in self.objects:
                    meta["generation"] = (self.objects[key].get("metadata", {}).get("generation") or 0) + 1
        try:
            return await super()._handle(request)
        finally:
            with contextlib.suppress(ValueError):
                self._requests.remove(request)

    def _KubernetesEmulator__get_objs(self, request, strict: bool) -> list:
        """kmock scans every object for every request; one named object is a dict lookup
        (the benchmark holds tens of thousands)."""
        if request.name is not None and request.resource is not None and (strict or request.namespace is not None):
            key = (request.resource, request.namespace, request.name)
            return [self.objects[key]] if key in self.objects else []
        return KubernetesEmulator._KubernetesEmulator__get_objs(self, request, strict)

    def _exists(self, request) -> bool:
        key = (request.resource, request.namespace, request.name)
        return key in self.objects and not self.objects[key].deleted

    async def _serve_list(self, request):
        """Honour equality-based `labelSelector` (kmock lists everything); the list's
        resourceVersion is the latest, so a watch can start after it."""
        listing = await super()._serve_list(request)
        wanted = _selector(request)
        listing["items"] = [item for item in listing["items"] if _matches(item, wanted)]
        listing["metadata"]["resourceVersion"] = str(self._last_version)
        return listing

    async def _serve_watch(self, request):
        """Honour equality-based `labelSelector`, and `resourceVersion`: kmock streams
        every object again, so kopf would see what it listed a second time as ADDED
        and patch it with a stale resourceVersion (a 422 kopf retries only later)."""
        wanted = _selector(request)
        since = request.params.get("resourceVersion", "")
        since = int(since) if since.isdigit() else 0
        async for item in super()._serve_watch(request):
            if not isinstance(item, dict):
                yield item
                continue
            obj = item.get("object") or {}
            version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            stale = item.get("type") != "DELETED" and version.isdigit() and int(version) <= since
            if _matches(obj, wanted) and not stale:
                yield item

    def _check_immutable(self, request) -> None:
        """A StatefulSet's volume claim templates cannot change: 422, as kube-apiserver answers."""
        key = (request.resource, request.namespace, request.name)
        if request.resource.plural != "statefulsets" or key not in self.objects or self.objects[key].deleted:
            return
        wanted = (request.data.get("spec") or {}).get("volumeClaimTemplates")
        if wanted is not None and wanted != self.objects[key].raw["spec"].get("volumeClaimTemplates"):
            raise KubernetesError(status=422, reason="Invalid", message=(
                f'StatefulSet.apps "{request.name}" is invalid: spec: Forbidden: updates to statefulset spec '
                "for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
                "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))

    def _check_tests(self, request) -> None:
        """A JSON patch whose `test` fails is 422 Unprocessable, as kube-apiserver answers."""
        key = (request.resource, request.namespace, request.name)
        current = self.objects[key].raw if key in self.objects and not self.objects[key].deleted else {}
        for op in request.data:
            if op.get("op") == "test" and op.get("path") == "/metadata/resourceVersion":
                if current.get("metadata", {}).get("resourceVersion") != op.get("value"):
                    raise KubernetesError(status=422, reason="Invalid", message="the test operation failed")


def _is_apply(request) -> bool:
    return request.headers.get("Content-Type", "").startswith("application/apply-patch")


def _selector(request) -> dict[str, str]:
    selector = request.params.get("labelSelector")
    return dict(term.split("=", 1) for term in selector.split(",")) if selector else {}


def _matches(obj: dict, wanted: dict[str, str]) -> bool:
    return wanted.items() <= ((obj.get("metadata") or {}).get("labels") or {}).items()


def declare_resources(kmock) -> None:
    """kmock serves discovery for what is declared; kopf needs the CRD's resource."""
    info = kmock.resources[f"{consts.GROUP}/{consts.VERSION}/{consts.PLURAL}"]
    info.kind, info.namespaced, info.singular = consts.KIND, True, consts.SINGULAR
    info.verbs.update({"list", "watch", "get", "patch", "create", "delete"})
    info.shortnames.add(consts.SHORT_NAME)
    info.subresources.update({"status", "scale"})
    for resource, kind in (("v1/namespaces", "Namespace"),
                           ("apiextensions.k8s.io/v1/customresourcedefinitions", "CustomResourceDefinition")):
        info = kmock.resources[resource]  # kopf's backbone: it waits for these to be discoverable
        info.kind, info.namespaced = kind, False
        info.verbs.update({"list", "watch"})
    for kind, plural in kube.PLURALS.items():  # the children, and what the operator's client discovers
        if kind == consts.KIND:
            continue
        info = kmock.resources[f"{kube.API_VERSIONS[kind]}/{plural}"]
        info.kind, info.namespaced = kind, True
        info.verbs.update({"list", "watch", "get", "patch", "create", "delete"})
        if kind in ("StatefulSet", "Deployment"):
            info.subresources.update({"status", "scale"})


def write_kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "kmock",
        "clusters": [{"name": "kmock", "cluster": {"server": server}}],
        "users": [{"name": "kmock", "user": {}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}],
    }
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class TextService:
    """Per node id: what /api/budget and /api/document answer; per session, the chat's
    pause state and the completion it was told."""

    spent: int = 0
    limit: int = 100_000
    version: int = 0
    paused: bool = False  # the chat's pause state, at /chat/{session}/api/session
    changed_by: str | None = None
    completion: dict | None = None  # what the operator told /chat/{session}/api/session/complete (first stays)
    chat_token: str = ""  # the token a pause or resume must carry (the session's Secret's)
    chat_tokens: list[str] = field(default_factory=list)  # the Authorization of each pause or resume
    url: str = ""
    _runner: web.AppRunner | None = field(default=None, repr=False)

    async def start(self) -> "TextService":
        app = web.Application()
        app.router.add_get("/{node}/api/budget", self._budget)
        app.router.add_get("/{node}/api/document", self._document)
        app.router.add_get("/chat/{name}/api/session", self._chat_session)
        app.router.add_post("/chat/{name}/api/session/{change:pause|resume|complete}", self._chat_change)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _budget(self, _request) -> web.Response:
        return web.json_response({"limit": self.limit, "spent": self.spent,
                                  "remaining": max(self.limit - self.spent, 0), "exhausted": self.spent >= self.limit})

    async def _document(self, request) -> web.Response:
        return web.json_response({"text": "…", "version": self.version, "node_id": request.match_info["node"]})


    async def _chat_session(self, _request) -> web.Response:
        return web.json_response({"paused": self.paused, "changed_by": self.changed_by, "completion": self.completion})

    async def _chat_change(self, request) -> web.Response:
        self.chat_tokens.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != f"Bearer {self.chat_token}":
            return web.json_response({"error": "unauthorized"}, status=401)
        change, told = request.match_info["change"], await request.json()
        if change == "complete":
            self.completion = self.completion or told
        else:
            self.paused, self.changed_by = change == "pause", told.get("by")
        return await self._chat_session(request)


@contextlib.asynccontextmanager
async def running_operator(kmock, workdir: Path, text: TextService, **overrides) -> AsyncIterator[None]:
    """The operator as `coedit operator` runs it, in a thread with its own event loop
    (as kopf's KopfRunner does: kopf cancels stray tasks of its loop when it exits),
    until the block ends."""
    declare_resources(kmock)
    kubeconfig = write_kubeconfig(workdir / "kubeconfig", str(kmock.url).rstrip("/"))
    settings = OperatorSettings(**{
        "standalone": True, "namespaces": ["ns"], "resync_interval": 0.5,
        "text_url_template": f"{text.url}/{{node}}", "chat_url_template": f"{text.url}/chat/{{name}}", "image": "coedit:test", "metrics_port": 0, **overrides,
    })
    kopf_settings = kopf.OperatorSettings()
    kopf_settings.scanning.disabled = True  # kmock has no CRDs or namespaces to scan
    kopf_settings.queueing.exit_timeout = 0.5
    stop, ready = threading.Event(), threading.Event()
    with _env("KUBECONFIG", str(kubeconfig)):
        thread = threading.Thread(target=asyncio.run, name="operator", args=(
            operate(settings, kopf.Memo(), stop_flag=stop, ready_flag=ready, kopf_settings=kopf_settings),))
        thread.start()
        try:
            assert await asyncio.to_thread(ready.wait, 60), "the operator did not start"
            yield
        finally:
            stop.set()
            await asyncio.to_thread(thread.join, 60)


@contextlib.contextmanager
def _env(name: str, value: str):
    import os

    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def api(kmock) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=str(kmock.url).rstrip("/"), timeout=10)


async def eventually(check, timeout: float = 120.0, interval: float = 0.05):
    """Poll `check()` (sync or async) until it returns something truthy; generous on a busy machine."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {getattr(check, '__name__', check)}")
        await asyncio.sleep(interval)
