"""Every bad request gets its documented status and a JSON body, and changes nothing."""

import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from coedit.local.processes import ServiceProcess
from coedit.local.servers import PostgresServer
from tests.conftest import AUTH, AUTH_ENV


@pytest.fixture(scope="module")
def node():
    base = Path(tempfile.mkdtemp(prefix="coedit-test-bad-input-"))
    database = PostgresServer(base / "pg", fsync=False).start()
    process = ServiceProcess(
        "text-node",
        ["--node-id", "a", "--database-url", database.url, "--initial-text", "Один. Два. Один.",
         "--max-edit-chars", "100",
         "--max-document-chars", "110"],
        base, env=AUTH_ENV,
    ).start()
    yield process
    process.stop()
    database.stop()
    shutil.rmtree(base, ignore_errors=True)


def edit(op: dict, **extra) -> dict:
    return {"edit_id": "e", "agent_id": "agent-1", "op": op, **extra}


CASES = [
    # (name, body, headers, status, error)
    ("no token", edit({"type": "append", "text": "x"}), {}, 401, "unauthorized"),
    ("wrong token", edit({"type": "append", "text": "x"}), {"Authorization": "Bearer nope"}, 401, "unauthorized"),
    ("anchor absent", edit({"type": "insert_after", "anchor": "Три", "text": "x"}), AUTH, 409, "anchor_not_found"),
    ("anchor twice", edit({"type": "delete", "anchor": "Один"}), AUTH, 409, "anchor_ambiguous"),
    ("unknown op", edit({"type": "move", "anchor": "Два", "text": "x"}), AUTH, 422, "invalid_request"),
    ("missing op", {"edit_id": "e", "agent_id": "a"}, AUTH, 422, "invalid_request"),
    ("empty anchor", edit({"type": "replace", "anchor": "", "text": "x"}), AUTH, 422, "invalid_request"),
    ("extra field", edit({"type": "append", "text": "x"}, colour="red"), AUTH, 422, "invalid_request"),
    ("negative tokens", edit({"type": "append", "text": "x"}, tokens=-1), AUTH, 422, "invalid_request"),
    ("bad edit id", edit({"type": "append", "text": "x"}) | {"edit_id": "has space"}, AUTH, 422, "invalid_request"),
    ("edit too large", edit({"type": "append", "text": "x" * 101}), AUTH, 413, "edit_too_large"),
    # hostile input found by fuzzing: each once poisoned a group commit or overflowed a sum
    ("NUL in text", edit({"type": "append", "text": "a\u0000b"}), AUTH, 422, "invalid_request"),
    ("NUL in anchor", edit({"type": "replace", "anchor": "Два\u0000", "text": "x"}), AUTH, 422, "invalid_request"),
    ("NUL in summary", edit({"type": "append", "text": "x"}, summary="\u0000"), AUTH, 422, "invalid_request"),
    ("NUL in intent id", edit({"type": "append", "text": "x"}, intent_id="i\u0000"), AUTH, 422, "invalid_request"),
    ("huge tokens", edit({"type": "append", "text": "x"}, tokens=2**80), AUTH, 422, "invalid_request"),
    ("tokens as a string", edit({"type": "append", "text": "x"}, tokens="5"), AUTH, 422, "invalid_request"),
    ("tokens as a boolean", edit({"type": "append", "text": "x"}, tokens=True), AUTH, 422, "invalid_request"),
    ("huge occurrence", edit({"type": "delete", "anchor": "Один", "occurrence": 2**70}), AUTH, 422, "invalid_request"),
]


def test_a_nul_and_a_lone_surrogate_are_refused_as_raw_json(node):
    for raw in (r'"a\u0000b"', r'"a\ud800b"'):
        body = '{"edit_id": "raw", "agent_id": "a", "op": {"type": "append", "text": %s}}' % raw
        answer = httpx.post(f"{node.url}/api/edits", content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert (answer.status_code, answer.json()["error"]) == (422, "invalid_request"), answer.text


def test_one_bad_edit_does_not_fail_the_good_ones_sharing_its_commit(node):
    """Valid edits sent at the same time as NUL-carrying ones are all applied."""
    import concurrent.futures

    def send(i: int) -> int:
        text = f" {i}" if i % 2 else f" {i}\u0000"
        body = edit({"type": "append", "text": text}) | {"edit_id": f"mix{i}"}
        return httpx.post(f"{node.url}/api/edits", json=body, headers=AUTH, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(send, range(20)))
    assert sorted(set(codes)) == [201, 422] and codes.count(201) == 10


@pytest.mark.parametrize("body,headers,status,error", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_bad_edits_change_nothing(node, body, headers, status, error):
    before = httpx.get(f"{node.url}/api/document").json()
    answer = httpx.post(f"{node.url}/api/edits", json=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error
    assert httpx.get(f"{node.url}/api/document").json() == before


def test_growing_past_the_document_limit_is_refused(node):
    before = httpx.get(f"{node.url}/api/document").json()
    answer = httpx.post(f"{node.url}/api/edits", headers=AUTH,
                        json=edit({"type": "append", "text": "x" * 100}) | {"edit_id": "huge"})
    assert (answer.status_code, answer.json()["error"]) == (413, "document_too_large")
    assert httpx.get(f"{node.url}/api/document").json() == before


def test_not_json_and_oversized_bodies(node):
    answer = httpx.post(f"{node.url}/api/edits", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["error"]) == (422, "invalid_request")
    answer = httpx.post(f"{node.url}/api/edits", content=b"x" * (2 << 20), headers=AUTH)
    assert (answer.status_code, answer.json()["error"]) == (413, "payload_too_large")


def test_unknown_versions_and_bad_queries(node):
    version = httpx.get(f"{node.url}/api/document").json()["version"]
    answer = httpx.get(f"{node.url}/api/document/versions/{version + 1}")
    assert (answer.status_code, answer.json()["error"]) == (404, "version_not_found")
    answer = httpx.get(f"{node.url}/api/document/versions/-1")
    assert answer.status_code == 422
    answer = httpx.get(f"{node.url}/api/edits", params={"after_version": "x"})
    assert (answer.status_code, answer.json()["error"]) == (422, "invalid_request")


def test_internal_routes_need_the_token(node):
    assert httpx.get(f"{node.url}/internal/log").status_code == 401
    assert httpx.get(f"{node.url}/internal/log", headers=AUTH).status_code == 200


def test_bad_internal_requests(node):
    sync = {"node_id": "x", "genesis": "g"}
    for path, body in [("/internal/sync", sync | {"state_vector": ""}), ("/internal/diff", sync | {"state_vector": ""}),
                       ("/internal/sync", sync | {"state_vector": "!!"}),
                       ("/internal/records", {"node_id": "x", "epoch": "e", "genesis": "g", "after_seq": 0,
                                              "records": [{"seq": 1, "kind": "edit", "record_id": "r", "origin": "x",
                                                           "update": "not base64!"}]}),
                       ("/internal/records", {"node_id": "x", "epoch": "e", "genesis": "g", "after_seq": 2**63,
                                              "records": []})]:
        answer = httpx.post(f"{node.url}{path}", json=body, headers=AUTH)
        assert (answer.status_code, answer.json()["error"]) == (422, "invalid_request"), (path, answer.text)
    for params in ({"after": 2**63}, {"after": -1}):
        assert httpx.get(f"{node.url}/internal/log", params=params, headers=AUTH).status_code == 422
    answer = httpx.get(f"{node.url}/api/edits", params={"after_version": 2**31})
    assert (answer.status_code, answer.json()["error"]) == (422, "invalid_request")
    assert httpx.get(f"{node.url}/readyz").status_code == 200


def test_bad_spends(node):
    for body in ({"spend_id": "s", "agent_id": "a"}, {"spend_id": "s", "agent_id": "a", "tokens": -5},
                 {"spend_id": "s", "agent_id": "a", "tokens": 2**80},
                 {"spend_id": "edit:e1", "agent_id": "a", "tokens": 5}):  # an edit's own spend id
        answer = httpx.post(f"{node.url}/api/budget/spend", json=body, headers=AUTH)
        assert (answer.status_code, answer.json()["error"]) == (422, "invalid_request")
    assert httpx.get(f"{node.url}/api/budget").json()["spent"] == 0


def test_a_chunked_body_is_cut_at_the_limit_and_a_write_without_token_is_not_read(node):
    """Neither a body without Content-Length nor one without the token is read whole:
    a stream of 200 MiB is answered 413 after 1 MiB, and without the token 401 before
    any of it; the node's memory stays where it was."""
    import psutil

    memory = psutil.Process(node.process.pid).memory_info().rss

    def stream(chunks: int):
        for _ in range(chunks):
            yield b"x" * (1 << 20)

    answer = httpx.post(f"{node.url}/api/edits", content=stream(200), headers={**AUTH, "Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["error"]) == (413, "payload_too_large")
    answer = httpx.post(f"{node.url}/api/edits", content=stream(200), headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["error"]) == (401, "unauthorized")
    assert psutil.Process(node.process.pid).memory_info().rss < memory + (50 << 20)
    assert httpx.get(f"{node.url}/readyz").status_code == 200
