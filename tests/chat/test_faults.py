"""Redis SIGKILLed and restarted under posters (Redis with its append-only file,
as `coedit up` and the tests run it): while it is away the chat answers 503
quickly, never a 500 or a hang; it recovers by itself; no acknowledged message is
lost and none is stored twice, even when a poster repeats one it got no answer for."""

import signal
import threading
import time

import httpx

from coedit.local.servers import stop_group
from tests.chat.conftest import all_messages, comment
from tests.conftest import AUTH
from tests.figures import report


class Poster(threading.Thread):
    """Posts numbered comments, each with its own message_id, until stopped; repeats
    a message while it is refused with a 503 or gets no answer (as agents do)."""

    def __init__(self, url: str, number: int):
        super().__init__(daemon=True)
        self.url, self.number = url, number
        self.acknowledged: dict[str, str] = {}  # message_id -> stream id
        self.refused = 0
        self.wrong: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=AUTH, timeout=httpx.Timeout(10, connect=2)) as client:
            for i in range(100_000):
                if self.stopping.is_set():
                    return
                message = {**comment(i, f"poster-{self.number}"), "message_id": f"p{self.number}-{i}"}
                for _ in range(200):
                    try:
                        answer = client.post("/api/messages", json=message)
                    except httpx.TimeoutException as exc:  # a hang is wrong; the retry is still safe
                        self.wrong.append(f"no answer in 10 s: {exc!r}")
                        continue
                    if answer.status_code == 201:
                        self.acknowledged[message["message_id"]] = answer.json()["id"]
                        break
                    if answer.status_code == 503 and answer.json()["error"] == "redis_unavailable":
                        self.refused += 1
                        time.sleep(0.05)
                        continue
                    self.wrong.append(f"{answer.status_code} {answer.text}")
                    break


def wait_for_acks(posters: list[Poster], count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while sum(len(p.acknowledged) for p in posters) < count:
        assert time.monotonic() < deadline, f"fewer than {count} messages acknowledged in {timeout} s"
        time.sleep(0.02)


def test_redis_killed_under_posters_loses_no_acknowledged_message(chat_factory, redis_server):
    chat = chat_factory("--max-len", "100000")
    posters = [Poster(chat.url, n) for n in range(3)]
    for poster in posters:
        poster.start()
    wait_for_acks(posters, 30)
    acked_before = sum(len(p.acknowledged) for p in posters)

    stop_group(redis_server.process, signal.SIGKILL, timeout=5)  # no shutdown, no last write
    killed_at = time.monotonic()
    time.sleep(2)
    away = httpx.get(f"{chat.url}/readyz", timeout=5)
    reading = httpx.get(f"{chat.url}/api/messages", timeout=5)
    refused_while_away = sum(p.refused for p in posters)
    acked_while_away = sum(len(p.acknowledged) for p in posters)
    restarted_at = time.monotonic()
    redis_server.start()
    wait_for_acks(posters, acked_while_away + 1)
    recovered_seconds = time.monotonic() - restarted_at
    time.sleep(1)
    for poster in posters:
        poster.stopping.set()
    for poster in posters:
        poster.join(30)

    assert away.status_code == 503 and (reading.status_code, reading.json()["error"]) == (503, "redis_unavailable")
    assert acked_before > 10 and refused_while_away > 10
    assert [wrong for p in posters for wrong in p.wrong] == []
    acknowledged = {mid: sid for p in posters for mid, sid in p.acknowledged.items()}
    stored = all_messages(chat.url)
    stored_ids = [m["message_id"] for m in stored]
    assert sorted(stored_ids) == sorted(set(stored_ids))  # none twice
    assert {m["message_id"]: m["id"] for m in stored if m["message_id"] in acknowledged} == acknowledged
    assert "Exception in ASGI application" not in chat.logs()
    report("chat/test_faults", acknowledged=len(acknowledged), lost=len(set(acknowledged) - set(stored_ids)),
           refused_503_while_away=refused_while_away, away_seconds=round(restarted_at - killed_at, 1),
           recover_after_restart_s=round(recovered_seconds, 2))
