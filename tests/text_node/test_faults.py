"""Faults on a live three-node cluster (real processes, real PostgreSQL): text nodes
SIGKILLed under a load of marked edits, one of them twice in quick succession (the
sequence after which a node once came back unable to commit), with compactions
frequent enough to happen between the kills. Afterwards every acknowledged edit is
on every node exactly once, the nodes converge, and each can still commit."""

import random
import threading
import time

import httpx
import pytest

from tests.conftest import AUTH
from tests.figures import report
from tests.text_node.test_cluster import wait_converged

NODES = "abc"


def generation(cluster) -> int:
    return httpx.get(f"{cluster['a'].url}/api/replication", timeout=10).json()["generation"]


class MarkedWriter(threading.Thread):
    """Appends `[wN-i]` marks to the nodes in turn until stopped. An edit is sent to
    the next node only when the first certainly did not apply it (connection refused
    or a 503), as the agents do; one whose outcome is unknown is not retried.
    `pause`: seconds between edits (none: as fast as the nodes answer)."""

    def __init__(self, cluster, number: int, pause: float = 0):
        super().__init__(daemon=True)
        self.cluster, self.number, self.pause = cluster, number, pause
        self.acknowledged: list[str] = []
        self.unknown: list[str] = []
        self.wrong: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(headers=AUTH, timeout=httpx.Timeout(10, connect=1)) as client:
            for i in range(100_000):
                if self.stopping.wait(self.pause):
                    return
                mark = f"[w{self.number}-{i}]"
                body = {"edit_id": mark.strip("[]"), "agent_id": f"w{self.number}", "op": {"type": "append", "text": f" {mark}"}}
                for attempt in range(30):
                    node = NODES[(self.number + i + attempt) % 3]
                    try:
                        answer = client.post(f"{self.cluster[node].url}/api/edits", json=body)
                    except (httpx.ConnectError, httpx.ConnectTimeout):
                        time.sleep(0.05)
                        continue
                    except httpx.HTTPError:
                        self.unknown.append(mark)
                        break
                    if answer.status_code == 201:
                        self.acknowledged.append(mark)
                        break
                    if answer.status_code != 503:  # never a 500, never another refusal
                        self.wrong.append(answer.text)
                        break
                    time.sleep(0.05)


@pytest.mark.parametrize("generation_edits", [None, 150], ids=["one-generation", "a-generation-every-150-edits"])
def test_sigkills_under_load_lose_nothing_and_every_node_commits_after(text_cluster_factory, generation_edits):
    """With generations every 150 edits, the kills also land while nodes are frozen
    or switching (generations.py)."""
    generations = ("--generation-edits", str(generation_edits)) if generation_edits else ()
    cluster = text_cluster_factory(extra_args=("--compact-every", "40", *generations))
    writers = [MarkedWriter(cluster, n) for n in range(4)]
    for writer in writers:
        writer.start()
    rng = random.Random(19)
    victims = ["c", "c", *(rng.choice(NODES) for _ in range(3))]  # c twice in quick succession
    for kill, victim in enumerate(victims):
        time.sleep(1.5 if kill else 2.0)
        cluster[victim].kill()
        time.sleep(rng.uniform(0.1, 0.5))
        cluster[victim].start()
    time.sleep(1.5)
    if generation_edits:  # the writers write on until the nodes are in generation 3, however slow the machine
        deadline = time.monotonic() + 60
        while generation(cluster) < 3:
            assert time.monotonic() < deadline, "not in generation 3 after 60 s of writes"
            time.sleep(0.5)
    for writer in writers:
        writer.stopping.set()
    for writer in writers:
        writer.join(30)

    assert [answer for writer in writers for answer in writer.wrong] == []
    acknowledged = [mark for writer in writers for mark in writer.acknowledged]
    unknown = [mark for writer in writers for mark in writer.unknown]
    assert len(acknowledged) > 100
    stopped = time.monotonic()
    texts = wait_converged(cluster, len(acknowledged), timeout=60)
    converge_seconds = time.monotonic() - stopped
    text, version = texts["a"]
    assert all(text.count(mark) == 1 for mark in acknowledged)
    assert version == len(acknowledged) + sum(mark in text for mark in unknown)
    for node in NODES:  # each can still commit, and numbers the next version right
        answer = httpx.post(f"{cluster[node].url}/api/edits", headers=AUTH, timeout=30,
                            json={"edit_id": f"after-{node}", "agent_id": "t",
                                  "op": {"type": "append", "text": f" after-{node}"}})
        assert answer.status_code == 201, answer.text
        assert "duplicate key" not in cluster[node].logs()
    wait_converged(cluster, version + 3)
    generations = generation(cluster)
    report(f"text_node/test_faults[{generation_edits or 'one-generation'}]", sigkills=len(victims),
           generations=generations, acknowledged=len(acknowledged), lost=0,
           outcome_unknown=len(unknown), unknown_that_landed=version - len(acknowledged),
           converge_after_writers_stopped_s=round(converge_seconds, 2))
