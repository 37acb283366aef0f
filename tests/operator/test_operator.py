"""The real operator (kopf) against the kmock Kubernetes emulator: create, ready,
scale, self-healing from watch events, an idle session's API cost, spec change, budget
spent, suspend, invalid spec, delete, metrics."""

import asyncio
import base64

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from coedit.local.servers import free_port
from coedit_operator import consts
from tests.operator.emulator import CES, Emulator, TextService, api, eventually, running_operator
from tests.operator.helpers import body

pytestmark = [pytest.mark.timeout(300), pytest.mark.kmock(cls=Emulator)]

NS = "ns"
CR = f"{CES.format(ns=NS)}/demo"
WORKLOADS = {"apps/v1/statefulsets", "apps/v1/deployments"}


@pytest.fixture
async def text():
    service = await TextService().start()
    yield service
    await service.stop()


@pytest.fixture
async def client(kmock):
    async with api(kmock) as http:
        yield http


@pytest.fixture
async def operator(kmock, tmp_path, text, client):
    async with running_operator(kmock, tmp_path, text):
        yield


@pytest.fixture
async def watching_operator(kmock, tmp_path, text, client):
    """An operator whose timer never fires during a test: only the watches can make it act."""
    async with running_operator(kmock, tmp_path, text, resync_interval=3600):
        yield


def live(kmock, resource: str, name: str) -> dict | None:
    for (res, namespace, obj_name), obj in list(kmock.objects.items()):
        if f"{res.group}/{res.version}/{res.plural}".lstrip("/") == resource and namespace == NS and obj_name == name:
            return None if obj.deleted else obj.raw
    return None


def children(kmock) -> dict[str, dict]:
    """name -> object, for everything the session owns."""
    found = {}
    for (res, namespace, name), obj in list(kmock.objects.items()):
        if namespace == NS and not obj.deleted and res.plural not in (consts.PLURAL, "events"):
            found[f"{res.plural}/{name}"] = obj.raw
    return found


async def session(client, kmock) -> dict:
    response = await client.get(CR)
    return response.json()


async def create(client, **spec) -> None:
    response = await client.post(CES.format(ns=NS), json=body(namespace=NS, **spec))
    assert response.status_code in (200, 201), response.text


async def phase(client) -> str | None:
    return ((await client.get(CR)).json().get("status") or {}).get("phase")


async def mark_ready(client, kmock) -> None:
    """kmock runs no controllers: play the StatefulSet and Deployment controllers."""
    for key, obj in children(kmock).items():
        plural, name = key.split("/")
        if plural in ("statefulsets", "deployments"):
            replicas = obj["spec"]["replicas"]
            response = await client.patch(
                f"/apis/apps/v1/namespaces/{NS}/{plural}/{name}/status",
                json={"status": {"replicas": replicas, "readyReplicas": replicas}},
                headers={"Content-Type": "application/merge-patch+json"},
            )
            assert response.status_code == 200, response.text


def event_reasons(kmock) -> list[str]:
    return [obj["reason"] for (res, namespace, _), obj in list(kmock.objects.items())
            if res.plural == "events" and namespace == NS and not obj.deleted]


def agents(kmock) -> dict[str, int]:
    return {name.removeprefix("deployments/demo-agent-"): obj["spec"]["replicas"]
            for name, obj in children(kmock).items() if name.startswith("deployments/demo-agent-")}


EXPECTED = {
    "configmaps/demo-config", "secrets/demo-internal", "secrets/demo-agent-writers-token",
    "poddisruptionbudgets/demo-text",
    "networkpolicies/demo-internal", "networkpolicies/demo-web", "networkpolicies/demo-operator",
    *(f"{kind}/demo-text-{node}" for node in "abc" for kind in ("statefulsets", "services")),
    "statefulsets/demo-redis", "services/demo-redis", "deployments/demo-chat", "services/demo-chat",
    "statefulsets/demo-analytics-db", "services/demo-analytics-db", "deployments/demo-analytics",
    "services/demo-analytics", "deployments/demo-web", "services/demo-web", "deployments/demo-agent-writers",
}


async def test_create_makes_every_child_owned_and_provisioning(kmock, operator, client):
    await create(client)
    await eventually(lambda: EXPECTED <= children(kmock).keys())
    for name, obj in children(kmock).items():
        (owner,) = obj["metadata"]["ownerReferences"]
        assert owner == {"apiVersion": consts.API_VERSION, "kind": consts.KIND, "name": "demo", "uid": "uid-demo",
                         "controller": True, "blockOwnerDeletion": True}, name
    assert await eventually(lambda: phase(client)) == "Provisioning"
    status = (await session(client, kmock))["status"]
    assert status["nodes"] == {"ready": 0, "desired": 3}
    assert status["agents"]["summary"] == "0/3"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "False" and conditions["Progressing"]["status"] == "True"
    assert status["observedGeneration"] == 1


async def test_ready_children_make_it_running_with_the_text_service_figures(kmock, operator, client, text):
    text.spent, text.version = 1234, 17
    await create(client)
    await eventually(lambda: EXPECTED <= children(kmock).keys())
    await mark_ready(client, kmock)

    async def running_and_read():
        status = (await session(client, kmock)).get("status") or {}
        return status.get("phase") == "Running" and status.get("documentVersion") == 17

    await eventually(running_and_read)
    status = (await session(client, kmock))["status"]
    assert status["tokens"] == {"used": 1234, "limit": 100_000, "summary": "1234/100000"}
    assert status["agents"]["summary"] == "3/3" and status["nodes"] == {"ready": 3, "desired": 3}
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True", "Progressing": "False", "BudgetExhausted": "False", "Suspended": "False"}
    await eventually(lambda: {"Provisioning", "Running"} <= set(event_reasons(kmock)))


async def test_scaling_the_session_scales_the_agent_groups(kmock, operator, client):
    await create(client, agents={"replicas": 3, "groups": [{"name": "a", "weight": 2}, {"name": "b"}]})
    await eventually(lambda: agents(kmock) == {"a": 2, "b": 1})
    # What `kubectl scale ces/demo --replicas 9` does: the scale subresource writes spec.agents.replicas.
    response = await client.patch(f"{CR}/scale", json={"spec": {"agents": {"replicas": 9}}},
                                  headers={"Content-Type": "application/merge-patch+json"})
    assert response.status_code == 200
    await eventually(lambda: agents(kmock) == {"a": 6, "b": 3})


async def test_a_deleted_or_edited_child_is_restored_from_its_watch_event(kmock, watching_operator, client):
    await create(client)
    await eventually(lambda: EXPECTED <= children(kmock).keys())
    assert (await client.delete(f"/apis/apps/v1/namespaces/{NS}/statefulsets/demo-text-b")).status_code == 200
    assert (await client.patch(f"/apis/apps/v1/namespaces/{NS}/deployments/demo-web", json={"spec": {"replicas": 7}},
                               headers={"Content-Type": "application/merge-patch+json"})).status_code == 200
    await eventually(lambda: "statefulsets/demo-text-b" in children(kmock))
    await eventually(lambda: children(kmock)["deployments/demo-web"]["spec"]["replicas"] == 1)
    # Children are listed once per kind when the watch starts, never per session.
    assert kmock.counted[("GET", "statefulsets", "")] == 1 and kmock.counted[("GET", "deployments", "")] == 1


async def test_ready_children_make_it_running_without_the_timer(kmock, watching_operator, client):
    await create(client)
    await eventually(lambda: EXPECTED <= children(kmock).keys())
    await mark_ready(client, kmock)  # status changes of the workloads reach the operator by their watch

    async def running():
        return await phase(client) == "Running"

    await eventually(running)


def operator_requests(kmock) -> dict:
    """What the emulator served, less the watch streams (kopf's, one per kind, held open)."""
    return {key: count for key, count in kmock.counted.items() if key[2] != "watch"}


async def quiet(kmock, seconds: float = 2.0, timeout: float = 30) -> dict:
    """The operator's request counts once they have stayed the same for `seconds`."""
    deadline = asyncio.get_running_loop().time() + timeout
    counts = operator_requests(kmock)
    while True:
        await asyncio.sleep(seconds)
        if (now := operator_requests(kmock)) == counts:
            return counts
        assert asyncio.get_running_loop().time() < deadline, f"the operator never went quiet: {now}"
        counts = now


async def test_an_idle_session_costs_no_api_request(kmock, operator, client, text):
    text.spent, text.version = 10, 3
    await create(client)
    await eventually(lambda: EXPECTED <= children(kmock).keys())
    await mark_ready(client, kmock)

    async def settled():
        status = (await session(client, kmock)).get("status") or {}
        return status.get("phase") == "Running" and status.get("documentVersion") == 3

    await eventually(settled)
    before = await quiet(kmock)  # the start-up's last events handled, however slow the machine
    await asyncio.sleep(8 * 0.5)  # eight timer ticks: each reads the text nodes and finds nothing new
    assert operator_requests(kmock) == before
    text.version = 4  # news: exactly one status patch
    await eventually(lambda: operator_requests(kmock).get(("PATCH", consts.PLURAL, "status"), 0)
                     == before.get(("PATCH", consts.PLURAL, "status"), 0) + 1)
    assert (await session(client, kmock))["status"]["documentVersion"] == 4


def env_value(kmock, workload: str, name: str) -> dict | None:
    container = children(kmock)[workload]["spec"]["template"]["spec"]["containers"][0]
    return next((item for item in container["env"] if item["name"] == name), None)


async def test_the_secrets_are_created_once_and_never_rotated(kmock, operator, client):
    await create(client)
    await eventually(lambda: EXPECTED <= children(kmock).keys())
    token = children(kmock)["secrets/demo-internal"]["data"]["auth-token"]
    writers = children(kmock)["secrets/demo-agent-writers-token"]["data"]["token"]
    await client.patch(CR, json={"spec": {"budget": {"tokens": 5000}}},
                       headers={"Content-Type": "application/merge-patch+json"})
    await eventually(lambda: children(kmock)["configmaps/demo-config"]["data"]["COEDIT_TOKEN_BUDGET"] == "5000")
    assert children(kmock)["secrets/demo-internal"]["data"]["auth-token"] == token
    # a new agent group: its own token in its own Secret, which its agents hold and the
    # services list beside the first group's (kept as it was)
    await client.patch(CR, json={"spec": {"agents": {"groups": [{"name": "writers"}, {"name": "poets"}]}}},
                       headers={"Content-Type": "application/merge-patch+json"})
    await eventually(lambda: "deployments/demo-agent-poets" in children(kmock))
    poets = children(kmock)["secrets/demo-agent-poets-token"]["data"]["token"]
    assert poets != writers and children(kmock)["secrets/demo-agent-writers-token"]["data"]["token"] == writers
    assert env_value(kmock, "deployments/demo-agent-poets", "COEDIT_AUTH_TOKEN")["valueFrom"]["secretKeyRef"] == {
        "name": "demo-agent-poets-token", "key": "token"}
    for workload in ("statefulsets/demo-text-a", "deployments/demo-chat", "deployments/demo-analytics"):
        listed = env_value(kmock, workload, "COEDIT_AGENT_TOKENS")["value"]
        assert listed == "writers/*=$(AGENT_TOKEN_0),poets/*=$(AGENT_TOKEN_1)", workload
        assert env_value(kmock, workload, "AGENT_TOKEN_1")["valueFrom"]["secretKeyRef"]["name"] == "demo-agent-poets-token"
    # a group removed: the services no longer list it; its Secret stays (never pruned) until the session goes
    await client.patch(CR, json={"spec": {"agents": {"groups": [{"name": "writers"}]}}},
                       headers={"Content-Type": "application/merge-patch+json"})
    await eventually(lambda: "deployments/demo-agent-poets" not in children(kmock))
    await eventually(lambda: env_value(kmock, "statefulsets/demo-text-a", "COEDIT_AGENT_TOKENS")["value"]
                     == "writers/*=$(AGENT_TOKEN_0)")
    assert children(kmock)["secrets/demo-agent-poets-token"]["data"]["token"] == poets
    assert children(kmock)["secrets/demo-agent-writers-token"]["data"]["token"] == writers
    assert children(kmock)["secrets/demo-internal"]["data"]["auth-token"] == token


async def test_a_spec_change_updates_the_children(kmock, operator, client):
    await create(client, textNodes={"count": 3})
    await eventually(lambda: EXPECTED <= children(kmock).keys())
    await client.patch(CR, json={"spec": {"textNodes": {"count": 4}, "image": "coedit:v2",
                                          "document": {"topic": "lighthouses"}}},
                       headers={"Content-Type": "application/merge-patch+json"})
    await eventually(lambda: "statefulsets/demo-text-d" in children(kmock))
    web = await eventually(lambda: (obj := children(kmock)["deployments/demo-web"])
                           ["spec"]["template"]["spec"]["containers"][0]["image"] == "coedit:v2" and obj)
    peers = [e for e in children(kmock)["statefulsets/demo-text-a"]["spec"]["template"]["spec"]["containers"][0]["env"]
             if e["name"] == "COEDIT_PEERS"][0]["value"]
    assert peers.count(",") == 2  # b, c and the new d
    assert children(kmock)["configmaps/demo-config"]["data"]["COEDIT_TOPIC"] == "lighthouses"
    assert web["spec"]["template"]["metadata"]["annotations"][consts.ANNOTATION_CONFIG_HASH]
    # Fewer nodes, another group, an ingress: what is no longer wanted goes, the new comes.
    await client.patch(CR, json={"spec": {"textNodes": {"count": 2}, "ingress": {"host": "x.example.com"},
                                          "agents": {"groups": [{"name": "poets"}]}}},
                       headers={"Content-Type": "application/merge-patch+json"})
    await eventually(lambda: "ingresses/demo-web" in children(kmock))
    await eventually(lambda: not {"statefulsets/demo-text-c", "statefulsets/demo-text-d", "services/demo-text-d",
                                  "deployments/demo-agent-writers"} & children(kmock).keys())
    assert "deployments/demo-agent-poets" in children(kmock)


def text_node_image_and_volume(kmock, node: str) -> tuple[str, str] | None:
    sts = children(kmock).get(f"statefulsets/demo-text-{node}")
    if sts is None:
        return None
    spec = sts["spec"]
    return (spec["template"]["spec"]["containers"][0]["image"],
            spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"])


def claim_size(kmock, name: str) -> str | None:
    claim = live(kmock, "v1/persistentvolumeclaims", name)
    return claim and claim["spec"]["resources"]["requests"]["storage"]


async def test_larger_volumes_grow_the_claims_and_a_shrink_is_refused(kmock, operator, client):
    await create(client)
    await eventually(lambda: EXPECTED <= children(kmock).keys())
    for node in "abc":  # kmock runs no controllers: the claims the StatefulSet controller makes
        response = await client.post(f"/api/v1/namespaces/{NS}/persistentvolumeclaims", json={
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"data-demo-text-{node}-0", "namespace": NS},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
        assert response.status_code in (200, 201), response.text
    merge = {"Content-Type": "application/merge-patch+json"}
    await client.patch(CR, json={"spec": {"image": "coedit:v2",
                                          "textNodes": {"postgres": {"storage": {"size": "5Gi"}}}}}, headers=merge)
    await eventually(lambda: all(claim_size(kmock, f"data-demo-text-{node}-0") == "5Gi" for node in "abc"))
    await eventually(lambda: all(text_node_image_and_volume(kmock, node) == ("coedit:v2", "5Gi") for node in "abc"))
    # A claim cannot shrink: refused once, and the rest of the change still applies.
    await client.patch(CR, json={"spec": {"image": "coedit:v3",
                                          "textNodes": {"postgres": {"storage": {"size": "1Gi"}}}}}, headers=merge)
    await eventually(lambda: text_node_image_and_volume(kmock, "a") == ("coedit:v3", "5Gi"))
    await eventually(lambda: "VolumeChangeRefused" in event_reasons(kmock))
    await asyncio.sleep(4 * 0.5)  # resyncs (every 0.5 s here) do not repeat the warning
    assert event_reasons(kmock).count("VolumeChangeRefused") == 3  # once per text node
    assert claim_size(kmock, "data-demo-text-a-0") == "5Gi"
    assert "ApplyFailed" not in event_reasons(kmock)


async def test_a_spent_budget_stops_the_agents_and_completes_the_session(kmock, operator, client, text):
    await create(client, budget={"tokens": 1000}, agents={"replicas": 4})
    await eventually(lambda: agents(kmock) == {"writers": 4})
    text.chat_token = base64.b64decode(children(kmock)["secrets/demo-internal"]["data"]["auth-token"]).decode()
    await mark_ready(client, kmock)
    text.spent, text.limit, text.version = 1003, 1000, 31

    async def completed():
        return await phase(client) == "Completed"

    await eventually(completed)
    assert agents(kmock) == {"writers": 0}
    status = (await session(client, kmock))["status"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["BudgetExhausted"]["status"] == "True"
    assert status["tokens"]["summary"] == "1003/1000" and status["documentVersion"] == 31
    assert "statefulsets/demo-text-a" in children(kmock)  # the document and its history remain
    await eventually(lambda: text.completion)  # the chat is told, so the web shows why
    assert text.completion["reason"] == "BudgetExhausted" and "1003/1000" in text.completion["message"]
    assert text.chat_tokens[-1] == f"Bearer {text.chat_token}"


async def test_suspend_pauses_the_chat_and_stops_the_agents_until_it_is_lifted(kmock, operator, client, text):
    await create(client, agents={"replicas": 4})
    await eventually(lambda: EXPECTED <= children(kmock).keys())
    text.chat_token = base64.b64decode(children(kmock)["secrets/demo-internal"]["data"]["auth-token"]).decode()
    await mark_ready(client, kmock)
    merge = {"Content-Type": "application/merge-patch+json"}

    async def suspended() -> str:
        status = (await session(client, kmock)).get("status") or {}
        found = next((c for c in status.get("conditions", []) if c["type"] == "Suspended"), {})
        return f"{found.get('status')}/{found.get('reason')}"

    def condition_is(expected: str):
        async def check() -> bool:
            return await suspended() == expected
        return check

    await eventually(condition_is("False/NotSuspended"))
    await client.patch(CR, json={"spec": {"suspend": True}}, headers=merge)
    await eventually(lambda: agents(kmock) == {"writers": 0})
    await eventually(lambda: text.paused)
    assert text.chat_tokens == [f"Bearer {text.chat_token}"] and text.changed_by == "operator"
    await eventually(condition_is("True/Suspended"))
    text.paused = False  # a person resumes from the web: spec.suspend still says suspended
    await eventually(lambda: text.paused)
    await client.patch(CR, json={"spec": {"suspend": False}}, headers=merge)
    await eventually(lambda: agents(kmock) == {"writers": 4})
    await eventually(lambda: not text.paused)
    await eventually(condition_is("False/NotSuspended"))
    assert len(text.chat_tokens) == 3 and text.changed_by == "operator"


async def test_an_invalid_spec_fails_with_a_condition_and_an_event(kmock, operator, client):
    # The schema cannot catch duplicate group names in kmock (no schema there) nor a too-long name.
    await create(client, agents={"groups": [{"name": "x"}, {"name": "x"}]})

    async def failed():
        return await phase(client) == "Failed"

    await eventually(failed)
    status = (await session(client, kmock))["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidSpec" and "unique" in ready["message"]
    assert not any(name.startswith("statefulsets/") for name in children(kmock))
    await eventually(lambda: "Failed" in event_reasons(kmock))
    # Fixing the spec recovers.
    await client.patch(CR, json={"spec": {"agents": {"groups": [{"name": "x"}]}}},
                       headers={"Content-Type": "application/merge-patch+json"})
    writers = {"deployments/demo-agent-writers", "secrets/demo-agent-writers-token"}
    await eventually(lambda: EXPECTED - writers | {"deployments/demo-agent-x", "secrets/demo-agent-x-token"}
                     <= children(kmock).keys())


async def test_deleting_the_session_leaves_only_owned_children(kmock, operator, client):
    await create(client)
    await eventually(lambda: EXPECTED <= children(kmock).keys())
    assert (await client.delete(CR)).status_code == 200
    await eventually(lambda: live(kmock, f"{consts.GROUP}/{consts.VERSION}/{consts.PLURAL}", "demo") is None)
    # kmock has no garbage collector: Kubernetes deletes these through their controller ownerReference.
    assert all(obj["metadata"]["ownerReferences"][0]["uid"] == "uid-demo" for obj in children(kmock).values())


async def test_the_operator_exports_its_metrics(kmock, tmp_path, text, client):
    port = free_port()
    async with running_operator(kmock, tmp_path, text, metrics_port=port, metrics_host="127.0.0.1"):
        await create(client)
        await eventually(lambda: EXPECTED <= children(kmock).keys())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as scraper:

            async def scraped():
                families = {family.name: family for family in
                            text_string_to_metric_families((await scraper.get("/metrics")).text)}
                sessions = {sample.labels["phase"]: sample.value for sample in families["coedit_operator_sessions"].samples}
                return sessions.get("Provisioning") == 1 and families

            families = await eventually(scraped)
    samples = {(family.name, sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in families.values() for sample in family.samples}
    created = ("trigger", "create")
    assert samples[("coedit_operator_reconciliations", "coedit_operator_reconciliations_total",
                    (("result", "success"), created))] >= 1
    assert samples[("coedit_operator_reconcile_duration_seconds", "coedit_operator_reconcile_duration_seconds_count",
                    (created,))] >= 1
    applies = samples[("coedit_operator_kubernetes_requests", "coedit_operator_kubernetes_requests_total",
                       (("code", "200"), ("verb", "apply")))]
    assert applies >= len(EXPECTED) - 2  # the Secrets are created, not applied
    assert samples[("coedit_operator_children_applied", "coedit_operator_children_applied_total",
                    (("kind", "StatefulSet"),))] >= 5
    assert {labels for (family, _, labels) in samples if family == "coedit_operator_sessions"} == {
        (("phase", phase),) for phase in ("Pending", "Provisioning", "Running", "Degraded", "Completed", "Failed")}
    assert families["coedit_operator_reconcile_errors"].type == "counter"
