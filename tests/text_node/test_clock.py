"""Text nodes whose wall clocks are an hour off (libfaketime in the node's process,
its monotonic clock left alone): b an hour behind, c an hour ahead. Nothing in
replication or version numbering reads the wall clock (Yrs orders by its own
logical clocks; a version is a count of edits), so edits sent to every node converge
with each acknowledged edit once. The one wall-clock rule, a budget reservation's
expiry, is judged by its owner's clock only: b's and c's short reservations are
released after their own seconds (not an hour early or late), and neither touches
a's. What the skew does show: the `created_at` an off node stamps on its edits."""

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import AUTH
from tests.figures import report
from tests.text_node.test_cluster import wait_converged
from tests.text_node.test_faults import NODES, MarkedWriter

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")  # Debian's libfaketime


def off_by(offset: str) -> dict[str, str]:
    return {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@pytest.fixture
def skewed_cluster(text_cluster_factory):
    if not LIBFAKETIME.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{LIBFAKETIME} missing: apt-get install libfaketime")
        pytest.skip(f"{LIBFAKETIME} missing: apt-get install libfaketime")
    return text_cluster_factory(node_env={"b": off_by("-1h"), "c": off_by("+1h")})


def reserve(cluster, node: str, rid: str, ttl: float) -> dict:
    answer = httpx.post(f"{cluster[node].url}/api/budget/reserve", headers=AUTH, timeout=10,
                        json={"reservation_id": rid, "agent_id": "t", "tokens": 100, "ttl_seconds": ttl})
    assert answer.status_code == 200, answer.text
    return answer.json()


def reserved(cluster) -> set[int]:
    return {httpx.get(f"{cluster[n].url}/api/budget", timeout=10).json()["reserved"] for n in NODES}


def test_nodes_an_hour_off_converge_and_expire_only_their_own_reservations(skewed_cluster):
    cluster = skewed_cluster
    now = datetime.now(UTC)
    stamped = {}
    for node in NODES:
        answer = cluster.edit(node, f"clock-{node}", {"type": "append", "text": f" [clock-{node}]"})
        assert answer.status_code == 201, answer.text
    wait_converged(cluster, 3)
    for edit in httpx.get(f"{cluster['a'].url}/api/edits", params={"after_version": 0}, timeout=10).json()["edits"]:
        stamped[edit["edit_id"]] = datetime.fromisoformat(edit["created_at"]) - now
    assert stamped["clock-b"] < timedelta(minutes=-50) and stamped["clock-c"] > timedelta(minutes=50)
    assert abs(stamped["clock-a"]) < timedelta(minutes=5)  # the fault is in place, on b and c only

    writers = [MarkedWriter(cluster, n) for n in range(2)]
    for writer in writers:
        writer.start()
    time.sleep(3)
    for writer in writers:
        writer.stopping.set()
    for writer in writers:
        writer.join(30)
    assert [answer for writer in writers for answer in writer.wrong] == []
    marks = [mark for writer in writers for mark in writer.acknowledged]
    unknown = [mark for writer in writers for mark in writer.unknown]
    started = time.monotonic()
    texts = wait_converged(cluster, len(marks) + 3)
    converge_seconds = time.monotonic() - started
    text, version = texts["a"]
    assert len(marks) > 20 and all(text.count(mark) == 1 for mark in marks)
    assert version == len(marks) + 3 + sum(mark in text for mark in unknown)

    reserve(cluster, "a", "r-a", ttl=600)
    granted = {node: reserve(cluster, node, f"r-{node}", ttl=1) for node in "bc"}
    deadline = time.monotonic() + 60
    while reserved(cluster) != {100}:  # b's and c's released, by their own clocks; a's held
        assert time.monotonic() < deadline, f"reserved on the nodes: {reserved(cluster)}"
        time.sleep(0.2)
    released_seconds = time.monotonic() - deadline + 60
    time.sleep(2)  # several sweeps of every node later, a's reservation is still held everywhere
    assert reserved(cluster) == {100}
    report("text_node/test_clock", acknowledged=len(marks) + 3, lost=0, converge_s=round(converge_seconds, 2),
           skew_minutes={n: round(stamped[f"clock-{n}"].total_seconds() / 60) for n in NODES},
           ttl_1s_reservations_released_after_s=round(released_seconds, 2),
           expires_at_answered_by_c=granted["c"]["expires_at"])
