"""Budget reservations on three text nodes as processes, each on its own PostgreSQL."""

import random
import threading
import time
import uuid

import httpx

from tests.conftest import AUTH


def budget(cluster, node: str) -> dict:
    return httpx.get(f"{cluster[node].url}/api/budget", timeout=10).json()


def post(cluster, node: str, path: str, body: dict, timeout: float = 30) -> httpx.Response:
    return httpx.post(f"{cluster[node].url}/api/budget/{path}", json=body, headers=AUTH, timeout=timeout)


def wait_for(check, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return result


def test_reserve_and_settle_on_any_node(text_cluster_factory):
    cluster = text_cluster_factory(token_budget=3000)
    body = {"reservation_id": "r1", "agent_id": "agent-1", "tokens": 1500}
    first = post(cluster, "a", "reserve", body)  # more than a's share of 1000: it borrows
    assert first.status_code == 200 and first.json()["granted"] and first.json()["node_id"] == "a"
    assert post(cluster, "a", "reserve", body).json() == first.json()  # idempotent
    assert budget(cluster, "a")["reserved"] == 1500 and budget(cluster, "a")["remaining"] == 1500
    wait_for(lambda: budget(cluster, "c")["reserved"] == 1500)
    assert post(cluster, "c", "reserve", body).json() == first.json()  # a retry elsewhere too

    settled = post(cluster, "b", "settle", {"reservation_id": "r1", "tokens": 1200})  # forwarded to a
    assert settled.status_code == 200
    assert settled.json() == {"reservation_id": "r1", "state": "settled", "tokens": 1200, "released": 300,
                              "unrecorded": 0}
    again = post(cluster, "c", "settle", {"reservation_id": "r1", "tokens": 5})
    assert again.json() == settled.json()  # answered as the first time
    wait_for(lambda: all(budget(cluster, n)["spent"] == 1200 and budget(cluster, n)["reserved"] == 0
                         for n in "abc"))

    too_much = post(cluster, "b", "reserve", {"reservation_id": "r2", "agent_id": "agent-1", "tokens": 1801})
    assert (too_much.status_code, too_much.json()["error"]) == (429, "budget_exhausted")
    unknown = post(cluster, "b", "settle", {"reservation_id": "nobody", "tokens": 1})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "reservation_not_found")
    for bad in ({"reservation_id": "r3", "agent_id": "x", "tokens": 0},
                {"reservation_id": "r3", "agent_id": "x"},
                {"reservation_id": "r 3", "agent_id": "x", "tokens": 5},
                {"reservation_id": "r3", "agent_id": "x", "tokens": 5, "ttl_seconds": -1}):
        answer = post(cluster, "a", "reserve", bad)
        assert (answer.status_code, answer.json()["error"]) == (422, "invalid_request")
    assert httpx.post(f"{cluster['a'].url}/api/budget/reserve", json=body).status_code == 401
    assert budget(cluster, "a")["spent"] == 1200

    short = post(cluster, "c", "reserve", {"reservation_id": "r4", "agent_id": "x", "tokens": 100,
                                           "ttl_seconds": 3})
    assert short.status_code == 200
    wait_for(lambda: budget(cluster, "c")["reserved"] == 100)  # held: seen well within its 3 s
    # never settled: it expires, and every node sees it released
    wait_for(lambda: all(budget(cluster, n)["reserved"] == 0 for n in "abc"))
    assert {budget(cluster, n)["spent"] for n in "abc"} == {1200}


def test_a_reserve_short_only_of_what_calls_in_flight_hold_waits_for_them(text_cluster_factory):
    """Reservations are upper bounds, mostly given back when settled: a reserve that
    only they stand in the way of is 503 (retry), and does not end the session."""
    cluster = text_cluster_factory(token_budget=3000)
    held = post(cluster, "a", "reserve", {"reservation_id": "r1", "agent_id": "agent-1", "tokens": 2000})
    assert held.status_code == 200, held.text
    body = {"reservation_id": "r2", "agent_id": "agent-2", "tokens": 1500}
    waiting = post(cluster, "a", "reserve", body)
    assert (waiting.status_code, waiting.json()["error"]) == (503, "budget_unavailable"), waiting.text
    assert waiting.json()["retry_after_seconds"] == 1
    assert not budget(cluster, "a")["exhausted"] and budget(cluster, "a")["reserved"] == 2000
    assert post(cluster, "a", "settle", {"reservation_id": "r1", "tokens": 400}).status_code == 200
    granted = post(cluster, "a", "reserve", body)
    assert granted.status_code == 200 and granted.json()["tokens"] == 1500, granted.text
    # what even the settled budget cannot cover ends it, as before
    over = post(cluster, "b", "reserve", {"reservation_id": "r3", "agent_id": "agent-3", "tokens": 2601})
    assert (over.status_code, over.json()["error"]) == (429, "budget_exhausted"), over.text
    wait_for(lambda: all(budget(cluster, n)["exhausted"] for n in "abc"))


def test_a_settle_while_its_node_is_down_waits_for_it(text_cluster_factory):
    cluster = text_cluster_factory(token_budget=3000)
    assert post(cluster, "a", "reserve", {"reservation_id": "r1", "agent_id": "x", "tokens": 400}).status_code == 200
    wait_for(lambda: budget(cluster, "b")["reserved"] == 400)
    cluster["a"].kill()
    pending = post(cluster, "b", "settle", {"reservation_id": "r1", "tokens": 250})
    assert pending.status_code == 202 and pending.json()["state"] == "pending"
    # held until its node applies the settle: a's share waits for it too
    assert budget(cluster, "b")["reserved"] == 400 and budget(cluster, "b")["spent"] == 0
    cluster["a"].start()
    wait_for(lambda: all(budget(cluster, n)["spent"] == 250 and budget(cluster, n)["reserved"] == 0
                         for n in "abc"))


def test_thirty_clients_a_sigkill_and_the_limit_is_never_passed(text_cluster_factory):
    """30 clients reserve and settle across the nodes while b is SIGKILLed and
    restarted; a watcher reads every node's budget all along."""
    limit = 600_000
    cluster = text_cluster_factory(token_budget=limit)
    settled: dict[str, int] = {}  # reservation id -> tokens the answer said were recorded
    seen_over: list[tuple[str, dict]] = []
    stop = threading.Event()
    lock = threading.Lock()

    def watch():
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                for node in "abc":
                    try:
                        view = client.get(f"{cluster[node].url}/api/budget").json()
                    except (httpx.HTTPError, ValueError):
                        continue  # b is down
                    if view["spent"] + view["reserved"] > limit:
                        seen_over.append((node, view))

    def settle(client: httpx.Client, rng: random.Random, reservation_id: str, tokens: int) -> None:
        body = {"reservation_id": reservation_id, "tokens": tokens}
        for attempt in range(40):
            node = rng.choice("abc")
            try:
                answer = client.post(f"{cluster[node].url}/api/budget/settle", json=body)
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            if answer.status_code in (200, 202):
                with lock:
                    settled[reservation_id] = answer.json()["tokens"]
                return
            time.sleep(0.1)
        raise AssertionError(f"could not settle {reservation_id}")

    def client_loop(number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(headers=AUTH, timeout=10) as client:
            refused = 0
            while refused < 3:
                node = "abc"[(number + rng.randrange(3)) % 3]
                tokens = rng.randint(200, 2000)
                reservation_id = f"c{number}-{uuid.uuid4().hex[:8]}"
                body = {"reservation_id": reservation_id, "agent_id": f"agent-{number}", "tokens": tokens,
                        "ttl_seconds": 5}
                try:
                    answer = client.post(f"{cluster[node].url}/api/budget/reserve", json=body)
                except httpx.HTTPError:
                    continue  # maybe held at the dead node: it expires there; reserve anew
                if answer.status_code == 429:
                    refused += 1
                    continue
                if answer.status_code == 503:
                    time.sleep(0.2)
                    continue
                assert answer.status_code == 200, answer.text
                settle(client, rng, reservation_id, rng.randint(tokens // 2, tokens))

    def settled_everywhere():
        views = {n: budget(cluster, n) for n in "abc"}
        done = all(v["reserved"] == 0 and v["spent"] == views["a"]["spent"] for v in views.values())
        return views if done else None

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    clients = [threading.Thread(target=client_loop, args=(n,), daemon=True) for n in range(30)]
    try:
        for thread in clients:
            thread.start()
        wait_for(lambda: budget(cluster, "a")["spent"] > limit // 5, timeout=120)
        cluster["b"].kill()
        time.sleep(1)
        cluster["b"].start()
        for thread in clients:
            thread.join(timeout=300)
        assert not any(thread.is_alive() for thread in clients)
        views = wait_for(settled_everywhere, timeout=60)  # every reservation settled or expired
    finally:
        stop.set()
        watcher.join()
    assert not seen_over
    spent = views["a"]["spent"]
    assert spent == sum(settled.values())  # every settle answered is counted, once
    assert spent >= 0.8 * limit, views
