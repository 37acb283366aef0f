"""What the operator believes is live between its writes and their watch events."""

from coedit_operator import consts
from coedit_operator.observed import Writes, seen, session_of

KEY = ("ns", "demo")


def child(kind: str = "Service", name: str = "demo-web", version: str = "1", **extra) -> dict:
    labels = {consts.LABEL_INSTANCE: "demo", consts.LABEL_MANAGED_BY: consts.OPERATOR_NAME}
    return {"apiVersion": "v1", "kind": kind, "metadata": {
        "name": name, "namespace": "ns", "labels": labels, "resourceVersion": version,
        "managedFields": [{"manager": "coedit-operator", "fieldsV1": {"f:spec": {}}}]}, **extra}


def test_a_record_is_the_object_without_managed_fields_and_a_secret_without_its_data():
    record = seen(child(spec={"ports": []}), "Service")
    assert record.object() == {k: v for k, v in child(spec={"ports": []}).items() if k != "metadata"} | {
        "metadata": {k: v for k, v in child()["metadata"].items() if k != "managedFields"}}
    secret = seen(child("Secret", "demo-internal", stringData={"auth-token": "t"}, data={"x": "eA=="}), "Secret")
    assert set(secret.object()) == {"apiVersion", "kind", "metadata"}
    assert b"auth-token" not in secret.data and b"eA==" not in secret.data


def test_children_belong_to_the_session_of_their_instance_label():
    assert session_of(child()) == KEY
    assert session_of({"metadata": {"name": "x", "namespace": "ns"}}) is None


def test_an_answer_stands_in_for_the_index_until_the_watch_delivers():
    writes = Writes()
    old = seen(child(version="1"), "Service")
    writes.begin(child())
    writes.end(child(), child(version="2"))
    assert writes.overlay(KEY, [old])[("Service", "demo-web")].resource_version == "2"
    writes.arrived(KEY, "Service", "demo-web")
    assert writes.overlay(KEY, [old])[("Service", "demo-web")].resource_version == "1"  # the index's turn
    assert len(writes) == 0


def test_an_event_during_the_write_wins_over_the_answer():
    """Deleted while the apply was in flight: the answer must not make it look alive."""
    writes = Writes()
    writes.begin(child())
    writes.arrived(KEY, "Service", "demo-web")
    writes.end(child(), child(version="2"))
    assert writes.overlay(KEY, []) == {}


def test_a_deletion_or_a_failed_write_leaves_the_index_alone():
    writes = Writes()
    writes.begin(child())
    writes.end(child(), child(version="2"))
    writes.begin(child())
    writes.end(child(), None)
    assert writes.overlay(KEY, []) == {}


def test_the_session_object_is_kept_apart_from_its_children():
    writes = Writes()
    session = {"apiVersion": consts.API_VERSION, "kind": consts.KIND,
               "metadata": {"name": "demo", "namespace": "ns", "resourceVersion": "9"}, "status": {"phase": "Running"}}
    writes.begin(session)
    writes.end(session, session)
    assert writes.session(KEY).object()["status"] == {"phase": "Running"}
    assert writes.overlay(KEY, []) == {}
    writes.forget(KEY)
    assert writes.session(KEY) is None
