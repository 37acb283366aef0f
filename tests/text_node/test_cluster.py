"""Three text nodes as processes, each on its own PostgreSQL."""

import concurrent.futures
import time

import httpx

from tests.conftest import AUTH
from tests.text_node.conftest import INITIAL_TEXT, TextCluster


def wait_converged(cluster: TextCluster, version: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        texts = cluster.texts()
        if len(set(texts.values())) == 1 and next(iter(texts.values()))[1] >= version:
            return texts
        if time.monotonic() > deadline:
            raise AssertionError(f"not converged: {texts}")
        time.sleep(0.2)


def test_edits_on_different_nodes_converge(text_cluster):
    assert text_cluster.edit("a", "e1", {"type": "append", "text": " Первая правка."}).status_code == 201
    assert text_cluster.edit("b", "e2", {"type": "insert_before", "anchor": "Роботы", "text": "😀 "}).status_code == 201
    assert text_cluster.edit("c", "e3", {"type": "replace", "anchor": "космос", "text": "звёзды"}).status_code == 201
    texts = wait_converged(text_cluster, 3)
    text, version = texts["a"]
    assert version == 3
    assert "Первая правка." in text and "😀 Роботы" in text and "звёзды" in text


def test_a_killed_node_catches_up_with_identical_text_and_versions(text_cluster):
    text_cluster["b"].kill()
    with httpx.Client(headers=AUTH, timeout=30) as client:
        for i in range(500):
            node = "a" if i % 2 else "c"
            body = {"edit_id": f"k{i}", "agent_id": "w", "op": {"type": "append", "text": f" {i}🤖"}}
            assert client.post(f"{text_cluster[node].url}/api/edits", json=body).status_code == 201
    text_cluster["b"].start()
    texts = wait_converged(text_cluster, 500)
    assert {version for _, version in texts.values()} == {500}
    history = httpx.get(f"{text_cluster['b'].url}/api/edits", params={"after_version": 0, "limit": 1000}).json()
    assert [e["version"] for e in history["edits"]] == list(range(1, 501))
    assert httpx.get(f"{text_cluster['b'].url}/api/document/versions/500").json()["text"] == texts["b"][0]
    # B applied the missed edits in bulk and computed their history afterwards: each
    # version adds the text its edit inserted, somewhere (B's order of integration,
    # not necessarily at the end). An edit that arrived before one it depends on waits
    # in Yrs and integrates with it: its version repeats the text before.
    with httpx.Client(base_url=text_cluster["b"].url, timeout=30) as client:
        versions = [client.get(f"/api/document/versions/{v}").json()["text"] for v in range(501)]
        assert client.get("/api/replication").json()["history_complete"]
    assert versions[0] == INITIAL_TEXT and versions[500] == texts["b"][0]
    waiting = []
    for edit, before, after in zip(history["edits"], versions, versions[1:]):
        waiting.append(edit["op"]["text"])
        if after != before:
            assert len(after) == len(before) + sum(map(len, waiting)) and is_subsequence(before, after), edit
            assert all(after.count(t) >= before.count(t) + waiting.count(t) for t in waiting), edit
            waiting = []
    assert not waiting


def is_subsequence(short: str, long: str) -> bool:
    rest = iter(long)
    return all(char in rest for char in short)


def test_concurrent_writers_lose_no_acknowledged_edit(text_cluster):
    def writer(w: int) -> list[str]:
        acknowledged = []
        with httpx.Client(headers=AUTH, timeout=60) as client:
            for i in range(30):
                node = "abc"[(w + i) % 3]
                body = {"edit_id": f"w{w}-{i}", "agent_id": f"agent-{w}",
                        "op": {"type": "append", "text": f" [w{w}-{i}]"}}
                if client.post(f"{text_cluster[node].url}/api/edits", json=body).status_code == 201:
                    acknowledged.append(f"[w{w}-{i}]")
        return acknowledged

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        acknowledged = [tag for tags in pool.map(writer, range(10)) for tag in tags]
    assert len(acknowledged) == 300
    texts = wait_converged(text_cluster, 300)
    text, _ = texts["a"]
    assert all(text.count(tag) == 1 for tag in acknowledged)


def test_a_restarted_node_keeps_its_whole_history(text_cluster):
    for i in range(20):
        text_cluster.edit("a", f"h{i}", {"type": "append", "text": f" строка {i}."})
    before = {v: httpx.get(f"{text_cluster['a'].url}/api/document/versions/{v}").json()["text"] for v in range(21)}
    text_cluster["a"].kill()
    text_cluster["a"].start()
    for version, text in before.items():
        assert httpx.get(f"{text_cluster['a'].url}/api/document/versions/{version}").json()["text"] == text
    assert before[0] == INITIAL_TEXT
    assert text_cluster.document("a")["version"] == 20


def test_an_acknowledged_edit_survives_sigkill_and_reaches_the_peers(text_cluster):
    text_cluster["b"].kill()
    text_cluster["c"].kill()
    assert text_cluster.edit("a", "durable", {"type": "append", "text": " Навсегда."}).status_code == 201
    text_cluster["a"].kill()
    text_cluster["a"].start()
    text_cluster["b"].start()
    text_cluster["c"].start()
    texts = wait_converged(text_cluster, 1)
    assert texts["c"][0].endswith(" Навсегда.")


def test_idempotent_retries_answer_as_the_first_time(text_cluster):
    op = {"type": "append", "text": " Один раз."}
    first = text_cluster.edit("a", "same-id", op)
    assert first.status_code == 201
    wait_converged(text_cluster, 1)
    for node in "abc":  # a retry that fails over to another node too
        again = text_cluster.edit(node, "same-id", op)
        assert (again.status_code, again.json()) == (201, first.json())
    assert text_cluster.document("a")["text"].count(" Один раз.") == 1

    spend = {"spend_id": "s1", "agent_id": "x", "tokens": 10}
    for _ in range(2):
        answer = httpx.post(f"{text_cluster['b'].url}/api/budget/spend", json=spend, headers=AUTH)
        assert answer.status_code == 200 and answer.json()["spent"] == 10


def test_the_budget_stops_edits_and_spends_on_every_node(text_cluster_factory):
    cluster = text_cluster_factory(token_budget=100)  # a share of 33 each; the last token is nobody's
    spend = {"spend_id": "big", "agent_id": "x", "tokens": 99}
    answer = httpx.post(f"{cluster['a'].url}/api/budget/spend", json=spend, headers=AUTH)
    assert answer.status_code == 200 and answer.json()["spent"] == 99  # a borrowed b's and c's shares
    deadline = time.monotonic() + 30
    while httpx.get(f"{cluster['b'].url}/api/budget").json()["spent"] != 99:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    over = {"spend_id": "over", "agent_id": "x", "tokens": 5}
    answer = httpx.post(f"{cluster['b'].url}/api/budget/spend", json=over, headers=AUTH)
    assert (answer.status_code, answer.json()["error"]) == (429, "budget_exhausted")
    while not all(httpx.get(f"{cluster[n].url}/api/budget").json()["exhausted"] for n in "abc"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    for node in "abc":
        edit = cluster.edit(node, f"late-{node}", {"type": "append", "text": "!"})
        assert (edit.status_code, edit.json()["error"]) == (429, "budget_exhausted")
        # a spend the budget cannot cover is refused and not recorded: the limit is never passed
        late = {"spend_id": f"late-{node}", "agent_id": "x", "tokens": 2}
        for _ in range(2):
            answer = httpx.post(f"{cluster[node].url}/api/budget/spend", json=late, headers=AUTH)
            assert (answer.status_code, answer.json()["error"]) == (429, "budget_exhausted")
    assert {v for _, v in cluster.texts().values()} == {0}
    for node in "abc":
        budget = httpx.get(f"{cluster[node].url}/api/budget").json()
        assert {k: budget[k] for k in ("limit", "spent", "reserved", "remaining", "exhausted")} == {
            "limit": 100, "spent": 99, "reserved": 0, "remaining": 1, "exhausted": True
        }


def test_replication_status_shows_each_peer(text_cluster):
    text_cluster.edit("a", "r1", {"type": "append", "text": " ok"})
    wait_converged(text_cluster, 1)
    deadline = time.monotonic() + 30
    while True:
        status = httpx.get(f"{text_cluster['a'].url}/api/replication").json()
        peers = status["peers"]
        if all(p["reachable"] and p["we_lack_edits"] == 0 and p["peer_lacks_edits"] == 0 for p in peers):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert sorted(p["node_id"] for p in peers) == ["b", "c"]
    text_cluster["c"].kill()
    while not any(not p["reachable"] for p in httpx.get(f"{text_cluster['a'].url}/api/replication").json()["peers"]):
        assert time.monotonic() < deadline + 30
        time.sleep(0.2)
    metrics = httpx.get(f"{text_cluster['a'].url}/metrics").text
    assert 'coedit_replication_peer_up{peer="c"} 0.0' in metrics
    assert "coedit_replication_lag_edits" in metrics
