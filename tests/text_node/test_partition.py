"""A partition between text nodes (loopback proxies between the peers, cut and
healed) while writers keep sending marked edits to both sides: each side goes on
accepting writes, and after healing every acknowledged edit is on every node
exactly once and the nodes converge."""

import time

import httpx

from tests.conftest import AUTH
from tests.figures import report
from tests.text_node.test_cluster import wait_converged
from tests.text_node.test_faults import NODES, MarkedWriter


def holds(cluster, node: str, marks: list[str]) -> bool:
    text = cluster.document(node)["text"]
    return all(mark in text for mark in marks)


def acknowledged(writers) -> list[str]:
    return [mark for writer in writers for mark in list(writer.acknowledged)]


def test_a_partition_heals_with_every_acknowledged_edit_everywhere_once(text_cluster_factory, links):
    cluster = text_cluster_factory(peer_url=links.url)
    writers = [MarkedWriter(cluster, n) for n in range(2)]
    for writer in writers:
        writer.start()
    time.sleep(1)

    links.partition({"a"})  # a alone; b and c together
    cut_at = time.monotonic()
    for side in NODES:  # one edit known to land on each side
        answer = httpx.post(f"{cluster[side].url}/api/edits", headers=AUTH, timeout=10,
                            json={"edit_id": f"cut-{side}", "agent_id": "t", "op": {"type": "append", "text": f" [cut-{side}]"}})
        assert answer.status_code == 201, answer.text
    before_cut = len(acknowledged(writers))
    time.sleep(3)  # many anti-entropy rounds (0.3 s) and push timeouts
    assert "[cut-b]" not in cluster.document("a")["text"] and "[cut-a]" not in cluster.document("b")["text"]
    assert holds(cluster, "c", ["[cut-b]"])  # b and c still replicate
    during_cut = len(acknowledged(writers)) - before_cut
    assert during_cut > 20  # both sides took writes all along

    marks = acknowledged(writers)
    links.heal()
    healed_at = time.monotonic()
    deadline = healed_at + 60
    while not all(holds(cluster, node, marks + ["[cut-a]", "[cut-b]"]) for node in NODES):
        assert time.monotonic() < deadline, "the partition did not heal"
        time.sleep(0.1)
    converge_seconds = time.monotonic() - healed_at

    time.sleep(1)  # writes go on after the heal
    for writer in writers:
        writer.stopping.set()
    for writer in writers:
        writer.join(30)
    assert [answer for writer in writers for answer in writer.wrong] == []
    marks = acknowledged(writers)
    unknown = [mark for writer in writers for mark in writer.unknown]
    texts = wait_converged(cluster, len(marks) + 3, timeout=60)
    text, version = texts["a"]
    assert all(text.count(mark) == 1 for mark in marks + ["[cut-a]", "[cut-b]", "[cut-c]"])
    assert version == len(marks) + 3 + sum(mark in text for mark in unknown)
    report("text_node/test_partition", acknowledged=len(marks) + 3, acknowledged_during_cut=during_cut,
           lost=0, outcome_unknown=len(unknown), cut_seconds=round(healed_at - cut_at, 1),
           converge_after_heal_s=round(converge_seconds, 2))
