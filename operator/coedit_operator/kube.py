"""A small async Kubernetes client (httpx) for the children: get, create and
server-side apply. Credentials come from kopf's own loaders (service account,
then kubeconfig), so the operator and kopf talk to the same cluster as the same user."""

import base64
import json
import ssl
import tempfile
from pathlib import Path

import httpx
import kopf

from coedit_operator import consts

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
    consts.KIND: consts.PLURAL,
}
# What a session owns besides its Secret, by apiVersion and kind: listed on every resync.
CHILD_KINDS = [
    ("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "StatefulSet"), ("apps/v1", "Deployment"),
    ("policy/v1", "PodDisruptionBudget"), ("networking.k8s.io/v1", "NetworkPolicy"), ("networking.k8s.io/v1", "Ingress"),
]
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class KubeError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def object_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{PLURALS[kind]}"
    return f"{path}/{name}" if name else path


def path_of(obj: dict) -> str:
    meta = obj["metadata"]
    return object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])


class _ServiceAccountAuth(httpx.Auth):
    """Bound service-account tokens rotate: read the projected file on every request."""

    def auth_flow(self, request):
        request.headers["Authorization"] = f"Bearer {SERVICE_ACCOUNT_TOKEN.read_text().strip()}"
        yield request


def _materialise(path, data, suffix: str) -> str | None:
    """httpx/ssl need files; kubeconfig may inline base64 data instead."""
    if path or not data:
        return str(path) if path else None
    raw = data if isinstance(data, bytes) else base64.b64decode(data)
    handle = tempfile.NamedTemporaryFile(prefix="coedit-operator-", suffix=suffix, delete=False)
    handle.write(raw)
    handle.close()
    return handle.name


def _ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    context = ssl.create_default_context(cafile=_materialise(info.ca_path, info.ca_data, ".crt"))
    cert = _materialise(info.certificate_path, info.certificate_data, ".crt")
    if cert:
        context.load_cert_chain(cert, _materialise(info.private_key_path, info.private_key_data, ".key"))
    return context


class KubeClient:
    def __init__(self, client: httpx.AsyncClient):
        self.http = client

    @classmethod
    def from_connection(cls, info: kopf.ConnectionInfo, timeout: float = 10.0) -> "KubeClient":
        auth: httpx.Auth | None = None
        headers = {}
        if info.token and SERVICE_ACCOUNT_TOKEN.exists() and info.server == "https://kubernetes.default.svc":
            auth = _ServiceAccountAuth()
        elif info.token:
            headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        elif info.username and info.password:
            auth = httpx.BasicAuth(info.username, info.password)
        verify = _ssl_context(info) if info.server.startswith("https") else True
        client = httpx.AsyncClient(
            base_url=info.server, headers=headers, auth=auth, verify=verify, timeout=timeout,
            trust_env=info.trust_env, limits=httpx.Limits(max_connections=50),
        )
        return cls(client)

    @classmethod
    def from_environment(cls, settings: kopf.OperatorSettings) -> "KubeClient":
        info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(settings=settings)
        if info is None:
            raise kopf.PermanentError("no Kubernetes credentials: neither a service account nor a kubeconfig")
        return cls.from_connection(info)

    async def close(self) -> None:
        await self.http.aclose()

    @staticmethod
    def _check(response: httpx.Response) -> dict:
        if response.is_error:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text
            raise KubeError(response.status_code, message)
        return response.json()

    async def get(self, obj: dict) -> dict | None:
        """The live state of `obj` (anything with apiVersion, kind, namespace, name), or None."""
        response = await self.http.get(path_of(obj))
        return None if response.status_code == 404 else self._check(response)

    async def create(self, obj: dict) -> dict:
        meta = obj["metadata"]
        path = object_path(obj["apiVersion"], obj["kind"], meta["namespace"])
        return self._check(await self.http.post(path, json=obj, params={"fieldManager": consts.FIELD_MANAGER}))

    async def apply(self, obj: dict) -> dict:
        """Server-side apply as the operator's field manager, taking over conflicting fields.
        An API that answers 404 instead of creating (emulators) gets a create."""
        response = await self.http.patch(
            path_of(obj),
            content=json.dumps(obj).encode(),  # JSON is YAML
            params={"fieldManager": consts.FIELD_MANAGER, "force": "true"},
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        if response.status_code == 404:
            return await self.create(obj)
        return self._check(response)

    async def patch(self, obj: dict, changes: dict, subresource: str = "") -> dict:
        """A merge patch (of the object, or of a subresource such as `status`)."""
        path = f"{path_of(obj)}/{subresource}" if subresource else path_of(obj)
        return self._check(await self.http.patch(
            path, content=json.dumps(changes).encode(), headers={"Content-Type": "application/merge-patch+json"},
        ))

    async def patch_status(self, obj: dict, changes: dict) -> dict:
        return await self.patch(obj, {"status": changes}, "status")

    async def delete(self, obj: dict, *, orphan_dependents: bool = False) -> None:
        """Delete `obj`; with `orphan_dependents` what it owns (a StatefulSet's pods) stays."""
        params = {"propagationPolicy": "Orphan"} if orphan_dependents else None
        response = await self.http.delete(path_of(obj), params=params)
        if response.status_code != 404:
            self._check(response)

    async def list(self, api_version: str, kind: str, namespace: str, label_selector: str) -> list[dict]:
        response = await self.http.get(object_path(api_version, kind, namespace),
                                       params={"labelSelector": label_selector})
        if response.status_code == 404:  # a kind the API does not serve (yet) holds nothing
            return []
        return self._check(response).get("items") or []
