"""Larger volumes for a running session. Kubernetes refuses any change to a
StatefulSet's `volumeClaimTemplates`, so a larger `storage.size` is carried out the
way operators such as CloudNativePG do it: each existing claim is patched to the new
size (its StorageClass must allow expansion), then the StatefulSet is deleted without
its pods (orphaned) and applied again with the new templates; the new StatefulSet
adopts the running pods. What no claim can do (shrink, change class) is refused."""

import copy
from dataclasses import dataclass, field

UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
         "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def size_in_bytes(size: str) -> float:
    """A storage quantity as the spec allows it (`1Gi`, `500M`, `1.5Ti`); the API may
    write it back in another form (`1024Mi` as `1Gi`), so sizes compare by value."""
    number = size.rstrip("kMGTi")
    return float(number) * UNITS[size[len(number):]]


@dataclass
class ClaimChanges:
    grow: dict[str, str] = field(default_factory=dict)  # claim template -> its larger size
    refused: list[str] = field(default_factory=list)  # what no existing claim can do


def _size(claim: dict) -> str:
    return claim["spec"]["resources"]["requests"]["storage"]


def claim_changes(desired: dict, live: dict) -> ClaimChanges:
    """How the desired StatefulSet's claim templates differ from the live one's."""
    live_claims = {claim["metadata"]["name"]: claim for claim in live["spec"].get("volumeClaimTemplates") or []}
    changes = ClaimChanges()
    for claim in desired["spec"].get("volumeClaimTemplates") or []:
        name = claim["metadata"]["name"]
        current = live_claims.get(name)
        if current is None:
            changes.refused.append(f"volume {name} is new (a StatefulSet's volumes cannot change)")
            continue
        wanted_class = claim["spec"].get("storageClassName")
        if wanted_class and wanted_class != current["spec"].get("storageClassName"):
            changes.refused.append(f"volume {name}: StorageClass {current['spec'].get('storageClassName')} → "
                                   f"{wanted_class} (a claim's class cannot change)")
        wanted, now = size_in_bytes(_size(claim)), size_in_bytes(_size(current))
        if wanted < now:
            changes.refused.append(f"volume {name}: {_size(current)} → {_size(claim)} (a claim cannot shrink)")
        elif wanted > now:
            changes.grow[name] = _size(claim)
    return changes


def claim_names(live: dict, template: str) -> list[str]:
    """The claims the StatefulSet controller made from `template`, one per pod."""
    return [f"{template}-{live['metadata']['name']}-{ordinal}" for ordinal in range(live["spec"]["replicas"])]


def claim_patch(live: dict, name: str, size: str) -> tuple[dict, dict]:
    """(the claim to patch, the merge patch) that asks for `size`."""
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": name, "namespace": live["metadata"]["namespace"]}}
    return claim, {"spec": {"resources": {"requests": {"storage": size}}}}


def keeping_live_claims(desired: dict, live: dict) -> dict:
    """`desired` with the live claim templates: the rest of a change still applies when
    its volumes cannot."""
    kept = copy.deepcopy(desired)
    kept["spec"]["volumeClaimTemplates"] = copy.deepcopy(live["spec"].get("volumeClaimTemplates") or [])
    return kept
