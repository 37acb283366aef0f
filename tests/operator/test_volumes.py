"""What a change of a StatefulSet's volumes asks of its claims (pure functions)."""

import pytest

from coedit_operator.objects import desired_objects
from coedit_operator.volumes import claim_changes, claim_names, claim_patch, keeping_live_claims, size_in_bytes
from tests.operator.helpers import CONFIG, session


def text_node_a(**postgres_storage) -> dict:
    objects = desired_objects(session(textNodes={"postgres": {"storage": postgres_storage}}), CONFIG)
    return next(o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "demo-text-a")


@pytest.mark.parametrize(("size", "expected"), [
    ("1Gi", 2**30), ("1024Mi", 2**30), ("500M", 5 * 10**8), ("1.5Ti", 1.5 * 2**40), ("2k", 2000), ("7", 7),
])
def test_sizes_compare_by_value(size, expected):
    assert size_in_bytes(size) == expected


def test_a_larger_size_grows_the_claims_of_every_pod():
    live, desired = text_node_a(size="1Gi"), text_node_a(size="5Gi")
    changes = claim_changes(desired, live)
    assert (changes.grow, changes.refused) == ({"data": "5Gi"}, [])
    assert claim_names(live, "data") == ["data-demo-text-a-0"]
    claim, patch = claim_patch(live, "data-demo-text-a-0", "5Gi")
    assert claim["metadata"] == {"name": "data-demo-text-a-0", "namespace": live["metadata"]["namespace"]}
    assert patch == {"spec": {"resources": {"requests": {"storage": "5Gi"}}}}


def test_the_same_size_written_otherwise_is_no_change():
    changes = claim_changes(text_node_a(size="1024Mi"), text_node_a(size="1Gi"))
    assert (changes.grow, changes.refused) == ({}, [])


def test_shrinking_or_another_class_is_refused_and_the_rest_still_applies():
    live = text_node_a(size="5Gi", storageClassName="fast")
    assert "cannot shrink" in claim_changes(text_node_a(size="1Gi", storageClassName="fast"), live).refused[0]
    other = text_node_a(size="5Gi", storageClassName="slow")
    assert "class cannot change" in claim_changes(other, live).refused[0]
    other["spec"]["template"]["spec"]["containers"][0]["image"] = "coedit:v2"
    kept = keeping_live_claims(other, live)
    assert kept["spec"]["volumeClaimTemplates"] == live["spec"]["volumeClaimTemplates"]
    assert kept["spec"]["template"]["spec"]["containers"][0]["image"] == "coedit:v2"
    assert other["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "slow"  # not modified
