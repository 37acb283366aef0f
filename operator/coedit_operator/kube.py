"""The operator's Kubernetes API calls, through the official `kubernetes` client: server-side
apply of the children, merge patches (status, volume claims), create, delete and Events.
(kopf keeps its own client for what it does itself: watching, its annotations.)

The official client is synchronous (urllib3). Its calls run in a small thread pool of
their own, sized like the client's connection pool, so the event loop never blocks and
at most that many requests are in flight. `kubernetes_asyncio` would avoid the threads,
but it is a separate port of the generated code that follows the official client with a
delay; the operator makes few calls (none for an idle session, a burst when a session is
created or changed), so threads cost nothing that matters here.

Resources are resolved once through the client's discovery (`kubernetes.dynamic`), so
no URL is built by hand; requests return plain dicts (no model objects)."""

import asyncio
import datetime
import functools
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import kubernetes
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError
from urllib3.exceptions import HTTPError

from coedit_operator import consts

# Every kind the operator touches, by (apiVersion, kind), and its plural (the RBAC resource).
PLURALS = {
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "StatefulSet": "statefulsets",
    "Deployment": "deployments",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "NetworkPolicy": "networkpolicies",
    "Ingress": "ingresses",
    "PersistentVolumeClaim": "persistentvolumeclaims",  # patched only, to grow a volume
    "Event": "events",  # created only
    consts.KIND: consts.PLURAL,
}
API_VERSIONS = {
    "ConfigMap": "v1", "Secret": "v1", "Service": "v1", "PersistentVolumeClaim": "v1", "Event": "v1",
    "StatefulSet": "apps/v1", "Deployment": "apps/v1", "PodDisruptionBudget": "policy/v1",
    "NetworkPolicy": "networking.k8s.io/v1", "Ingress": "networking.k8s.io/v1", consts.KIND: consts.API_VERSION,
}
# What a session owns and the operator watches (by label), besides the session itself.
CHILD_KINDS = ["ConfigMap", "Secret", "Service", "StatefulSet", "Deployment", "PodDisruptionBudget",
               "NetworkPolicy", "Ingress"]
CONCURRENCY = 8  # threads, and connections in the client's pool
TIMEOUT = 10.0  # seconds, per request
MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    """An API call failed: `status` is the HTTP status, 0 when no answer came."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message


def load_configuration() -> kubernetes.client.Configuration:
    """The service account in a pod (its token re-read as it rotates), else the kubeconfig
    ($KUBECONFIG as it is now: the client reads its default once, at import)."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"),
                                           client_configuration=configuration)
    return configuration


def _raw(_client, data):
    """Keep responses as the JSON the API sent (the dynamic client wraps them otherwise)."""
    return data


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class KubeClient:
    def __init__(self, configuration: kubernetes.client.Configuration,
                 on_request: Callable[[str, int], None] | None = None):
        configuration.connection_pool_maxsize = CONCURRENCY
        self._api = kubernetes.client.ApiClient(configuration)
        self._executor = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="kube")
        self._cache_dir = Path(tempfile.mkdtemp(prefix="coedit-operator-discovery-"))
        self._dynamic: DynamicClient | None = None
        self._resources: dict[str, object] = {}
        self._on_request = on_request or (lambda verb, status: None)
        self.instance = socket.gethostname()

    @classmethod
    def from_environment(cls, on_request: Callable[[str, int], None] | None = None) -> "KubeClient":
        return cls(load_configuration(), on_request)

    async def connect(self) -> "KubeClient":
        """Discover every kind the operator uses, once (a handful of GETs at start-up)."""
        await self._run("discover", self._discover)
        return self

    def _discover(self) -> None:
        self._dynamic = DynamicClient(self._api, cache_file=str(self._cache_dir / "discovery.json"))
        for kind, api_version in API_VERSIONS.items():
            self._resources[kind] = self._dynamic.resources.get(api_version=api_version, kind=kind)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._api.close()
        self._api.rest_client.pool_manager.clear()  # its keep-alive connections (close() leaves them)
        shutil.rmtree(self._cache_dir, ignore_errors=True)

    async def _run(self, verb: str, call: Callable, *args, **kwargs):
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, functools.partial(call, *args, **kwargs))
        except DynamicApiError as error:
            self._on_request(verb, error.status)
            raise KubeError(error.status, _message(error)) from None
        except HTTPError as error:
            self._on_request(verb, 0)
            raise KubeError(0, f"no answer from the Kubernetes API: {error}") from None
        self._on_request(verb, 200)
        return result

    def _resource(self, obj: dict):
        return self._resources[obj["kind"]]

    async def apply(self, obj: dict) -> dict:
        """Server-side apply as the operator's field manager, taking over conflicting fields
        (creates the object when it is missing)."""
        meta = obj["metadata"]
        return await self._run("apply", self._resource(obj).server_side_apply, body=obj, name=meta["name"],
                               namespace=meta["namespace"], field_manager=consts.FIELD_MANAGER,
                               force_conflicts=True, serializer=_raw, _request_timeout=TIMEOUT)

    async def get(self, obj: dict) -> dict:
        """The live object named by `obj`'s kind, namespace and name."""
        meta = obj["metadata"]
        return await self._run("get", self._resource(obj).get, name=meta["name"], namespace=meta["namespace"],
                               serializer=_raw, _request_timeout=TIMEOUT)

    async def create(self, obj: dict) -> dict:
        return await self._run("create", self._resource(obj).create, body=obj, namespace=obj["metadata"]["namespace"],
                               field_manager=consts.FIELD_MANAGER, serializer=_raw, _request_timeout=TIMEOUT)

    async def patch(self, obj: dict, changes: dict, subresource: str = "") -> dict:
        """A merge patch of the object, or of a subresource such as `status`."""
        resource = self._resource(obj)
        target = resource.subresources[subresource] if subresource else resource
        meta = obj["metadata"]
        return await self._run("patch", self._dynamic.patch, target, body=changes, name=meta["name"],
                               namespace=meta["namespace"], content_type=MERGE_PATCH, serializer=_raw,
                               _request_timeout=TIMEOUT)

    async def patch_status(self, obj: dict, changes: dict) -> dict:
        return await self.patch(obj, {"status": changes}, "status")

    async def delete(self, obj: dict, *, orphan_dependents: bool = False) -> None:
        """Delete `obj` if it exists; with `orphan_dependents` what it owns (a StatefulSet's pods) stays."""
        meta = obj["metadata"]
        try:
            await self._run("delete", self._resource(obj).delete, name=meta["name"], namespace=meta["namespace"],
                            propagation_policy="Orphan" if orphan_dependents else None, serializer=_raw,
                            _request_timeout=TIMEOUT)
        except KubeError as error:
            if error.status != 404:
                raise

    async def event(self, regarding: dict, type_: str, reason: str, message: str) -> None:
        """A core/v1 Event about `regarding` (what `kubectl describe` and `kubectl get events` show)."""
        meta = regarding["metadata"]
        now = _now()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": regarding["apiVersion"], "kind": regarding["kind"],
                               "name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid")},
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": consts.OPERATOR_NAME},
            "reportingComponent": consts.OPERATOR_NAME,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self._run("create", self._resources["Event"].create, body=event, namespace=meta["namespace"],
                        serializer=_raw, _request_timeout=TIMEOUT)


def _message(error: DynamicApiError) -> str:
    """The API's own `message` (a Status object), else the summary the client makes."""
    try:
        return json.loads(error.body).get("message") or error.summary()
    except (TypeError, ValueError, AttributeError):
        return error.summary()
