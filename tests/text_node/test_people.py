"""People on the text nodes: npm `yjs` + `y-websocket` clients (real ones, in Node)
against three text-node processes on their own PostgreSQL servers (and a node in
this process, for a race between a person's change and a generation switch)."""

import asyncio
import contextlib
import time

import httpx
import pytest
from pycrdt import Doc, Text, YMessageType, create_sync_message, create_update_message, handle_sync_message
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from coedit.text_node.document import first_generation
from coedit.text_node.errors import DocumentRestarted
from coedit.text_node.node import FreezeWork
from coedit.text_node import people
from coedit.text_node.people import RESTARTED, Connection, PersonChange, Room
from tests.conftest import AUTH, AUTH_TOKEN
from tests.logs import log_records
from tests.text_node.conftest import INITIAL_TEXT, TextCluster
from tests.text_node.test_cluster import wait_converged
from tests.streams import assert_websockets_capped
from tests.text_node.test_generations import switcher, wait_generation, write
from tests.text_node.yjs import YClient, install


@pytest.fixture(scope="session")
def yjs_installed() -> None:
    install()


@pytest.fixture
def person(yjs_installed):
    """Call with (node url, name, token=...) to open a person's editor on that node."""
    clients: list[YClient] = []

    def make(url: str, name: str, token: str = AUTH_TOKEN) -> YClient:
        client = YClient(url, name, token)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def wait_text(cluster: TextCluster, predicate, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        texts = cluster.texts()
        if all(predicate(text) for text, _ in texts.values()):
            return texts
        if time.monotonic() > deadline:
            raise AssertionError(f"not there after {timeout} s: {texts}")
        time.sleep(0.1)


def edits(url: str) -> list[dict]:
    return httpx.get(f"{url}/api/edits", params={"limit": 1000}, timeout=10).json()["edits"]


def test_a_person_syncs_edits_and_every_node_gets_it_as_their_version(text_cluster, person):
    ada = person(text_cluster["a"].url, "Ada Lovelace")
    assert ada.wait_synced()["text"] == INITIAL_TEXT
    ada.call("insert", index=0, text="Привет! ")
    ada.call("type", text=" Конец.", delay=20)
    texts = wait_text(text_cluster, lambda t: t == "Привет! " + INITIAL_TEXT + " Конец.")
    assert {version for _, version in texts.values()} == {1}  # one version: changes within 2 s
    for name in "abc":
        [version] = edits(text_cluster[name].url)
        assert version["kind"] == "human" and version["agent_id"] == "Ada Lovelace" and version["op"] is None
        assert version["node_id"] == "a"
        history = httpx.get(f"{text_cluster[name].url}/api/document/versions/1", timeout=10).json()
        assert history["text"] == texts[name][0]
        assert httpx.get(f"{text_cluster[name].url}/api/budget", timeout=10).json()["spent"] == 0
    # an agent's edit reaches the person; the person's next change is a new version
    assert text_cluster.edit("b", "agent-1", {"type": "append", "text": " Агент."}).status_code == 201
    ada.wait(lambda s: s["text"].endswith(" Конец. Агент."), what="the agent's edit")
    ada.call("insert", index=0, text="* ")
    texts = wait_converged(text_cluster, 3)
    assert texts["c"][0] == "* Привет! " + INITIAL_TEXT + " Конец. Агент."
    assert [(e["kind"], e["agent_id"]) for e in edits(text_cluster["c"].url)] == [
        ("human", "Ada Lovelace"), ("agent", "tester"), ("human", "Ada Lovelace")]
    versions = [httpx.get(f"{text_cluster['c'].url}/api/document/versions/{v}", timeout=10).json()["text"]
                for v in range(4)]
    assert versions[1] == "Привет! " + INITIAL_TEXT + " Конец."
    assert versions[2] == versions[1] + " Агент." and versions[3] == texts["c"][0]


def test_two_people_on_two_nodes_typing_at_once_converge(text_cluster, person):
    ada, bob = person(text_cluster["a"].url, "ada"), person(text_cluster["b"].url, "bob")
    ada.wait_synced(), bob.wait_synced()
    # both type into the same place at once (the commands return when typing ends)
    ada.process.stdin.write('{"id": 0, "cmd": "type", "text": "AAAAAAAAAAAAAAAAAAAA", "index": 10, "delay": 5}\n')
    ada.process.stdin.flush()
    bob.call("type", text="BBBBBBBBBBBBBBBBBBBB", index=10, delay=5)
    ada._answers.get(timeout=30)
    final = ada.wait(lambda s: s["text"].count("A") == 20 and s["text"].count("B") == 20, what="both")["text"]
    bob.wait(lambda s: s["text"] == final, what="the same text as ada")
    texts = wait_text(text_cluster, lambda t: t == final)
    assert len({version for _, version in texts.values()}) == 1
    people = {e["agent_id"] for e in edits(text_cluster["c"].url)}
    assert people == {"ada", "bob"}


def test_forged_ledger_and_edit_log_writes_change_nothing(text_cluster, person):
    eve = person(text_cluster["a"].url, "eve")
    eve.wait_synced()
    eve.call("insert", index=0, text="ok ")
    wait_text(text_cluster, lambda t: t.startswith("ok "))
    before = text_cluster.texts()
    eve.call("forge", root="ledger", key="forged#1", value='{"writer": "forged", "node": "a", "seq": 1, "spent": 0}')
    eve.call("forge", root="edits", key="forged", value='{"agent_id": "eve"}')
    eve.call("insert", index=0, text="after the forgery ")  # in a refused connection's updates
    wait_closes(eve, 1008, 1)  # refused (it reconnects and resends: refused each time)
    time.sleep(0.5)  # a refused change given time to land, if it could
    assert text_cluster.texts() == before
    for name in "abc":
        url = text_cluster[name].url
        assert httpx.get(f"{url}/api/budget", timeout=10).json()["spent"] == 0
        assert [e["edit_id"] for e in edits(url)] != ["forged"] and len(edits(url)) == 1
    assert "refused" in text_cluster["a"].logs()
    # an honest client on the same node is unaffected
    ada = person(text_cluster["a"].url, "ada")
    ada.wait_synced()
    ada.call("insert", index=0, text="fine ")
    wait_text(text_cluster, lambda t: t.startswith("fine ok "))


def test_a_person_types_after_agents_spent_tokens(text_cluster, person):
    """The budget ledger lives in the same document: once an agent's edit has charged
    tokens to it, a person's change to the text is still a change to the text alone."""
    charged = text_cluster.edit("b", "agent-1", {"type": "append", "text": " Агент."}, tokens=120)
    assert charged.status_code == 201, charged.text
    ada = person(text_cluster["a"].url, "ada")
    ada.wait(lambda s: s["synced"] and s["text"].endswith(" Агент."), what="the agent's edit")
    ada.call("insert", index=0, text="* ")
    texts = wait_text(text_cluster, lambda t: t == "* " + INITIAL_TEXT + " Агент.")
    assert {version for _, version in texts.values()} == {2}
    assert not any(event.get("code") == 1008 for event in ada.events), ada.events
    assert httpx.get(f"{text_cluster['c'].url}/api/budget", timeout=10).json()["spent"] == 120


def test_a_wrong_or_missing_token_cannot_connect_or_write(text_cluster, person):
    url = text_cluster["a"].url.replace("http", "ws")
    for query in ("?name=x&token=wrong", "?name=x", f"?token={AUTH_TOKEN}"):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{url}/yjs/document{query}", open_timeout=5).close()
        assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        connect(f"{url}/yjs/another-room?name=x&token={AUTH_TOKEN}", open_timeout=5).close()
    mallory = person(text_cluster["a"].url, "mallory", token="wrong")
    mallory.call("insert", index=0, text="not allowed ")
    time.sleep(1)
    assert not mallory.state()["synced"]
    assert all(text == INITIAL_TEXT for text, _ in text_cluster.texts().values())


@contextlib.contextmanager
def synced_client(url: str, name: str):
    """A Python Yjs client (pycrdt's sync messages over a websocket), synced with the node."""
    with connect(f"{url.replace('http', 'ws')}/yjs/document?name={name}&token={AUTH_TOKEN}", open_timeout=5) as ws:
        doc = Doc()
        text = doc.get("text", type=Text)
        ws.send(create_sync_message(doc))  # step 1: everything the node has
        while str(text) != INITIAL_TEXT:
            message = ws.recv(timeout=10)
            if message[0] == YMessageType.SYNC:
                handle_sync_message(message[1:], doc)
        yield ws, doc, text


def held_changes(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in metrics.splitlines()
               if line.startswith('coedit_people_changes_total{outcome="held"}'))


def test_people_connections_are_capped_in_all(text_cluster_factory):
    cluster = text_cluster_factory(extra_args=("--max-people-connections", "2"))
    url = cluster["a"].url.replace("http://", "ws://") + f"/yjs/document?name=Ada&token={AUTH_TOKEN}"
    assert_websockets_capped(url, per_client=False)


def test_a_delete_of_items_the_node_lacks_waits_for_them(text_cluster):
    """A client that saw items elsewhere deletes them: the node holds the delete until it
    has the items (here they come next on the same connection), then applies both."""
    url = text_cluster["a"].url
    with synced_client(url, "grace") as (ws, doc, text):
        base = doc.get_state()
        text.insert(0, "XYZ")
        inserted, typed = doc.get_update(base), doc.get_state()
        del text[1:2]
        deleted = doc.get_update(typed)  # no structs: a delete set naming items the node lacks
        ws.send(create_update_message(deleted))
        deadline = time.monotonic() + 15
        while held_changes(url) < 1:
            assert time.monotonic() < deadline, "the delete was not held"
            time.sleep(0.05)
        assert all(text == (INITIAL_TEXT, 0) for text in text_cluster.texts().values())
        ws.send(create_update_message(inserted))
        wait_text(text_cluster, lambda t: t == "XZ" + INITIAL_TEXT)
    assert held_changes(url) == 1
    [version] = edits(url)
    assert version["kind"] == "human" and version["agent_id"] == "grace"


def test_a_delete_whose_items_never_come_closes_the_connection_and_changes_nothing(text_cluster):
    with synced_client(text_cluster["a"].url, "mallory") as (ws, doc, text):
        stranger = Doc()  # items that no node will ever have
        strange = stranger.get("text", type=Text)
        strange += "never sent"
        after = stranger.get_state()
        del strange[0:5]
        ws.send(create_update_message(stranger.get_update(after)))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=30)
    assert closed.value.rcvd.code == 1013
    assert all(text == (INITIAL_TEXT, 0) for text in text_cluster.texts().values())
    assert "held update dropped" in text_cluster["a"].logs()


def test_a_node_killed_while_a_person_types_loses_nothing_they_synced(text_cluster, person):
    ada = person(text_cluster["a"].url, "ada")
    ada.wait_synced()
    ada.process.stdin.write('{"id": 0, "cmd": "type", "text": "' + "x" * 150 + '", "delay": 10}\n')
    ada.process.stdin.flush()
    time.sleep(0.6)
    text_cluster["a"].kill()
    ada._answers.get(timeout=30)
    typed = ada.state()["text"]
    assert typed == INITIAL_TEXT + "x" * 150
    text_cluster["a"].start()
    ada.wait_synced(timeout=30)
    wait_text(text_cluster, lambda t: t == typed, timeout=30)


def test_restore_makes_one_version_with_that_text_attributed_to_the_person(text_cluster):
    assert text_cluster.edit("a", "e1", {"type": "append", "text": " Один."}).status_code == 201
    assert text_cluster.edit("a", "e2", {"type": "replace", "anchor": "Один", "text": "Два"}).status_code == 201
    wait_converged(text_cluster, 2)
    body = {"version": 1, "agent_id": "Ada Lovelace", "edit_id": "restore-1"}
    answer = httpx.post(f"{text_cluster['b'].url}/api/document/restore", json=body, headers=AUTH, timeout=10)
    assert answer.status_code == 201, answer.text
    assert answer.json()["version"] == 3
    again = httpx.post(f"{text_cluster['b'].url}/api/document/restore", json=body, headers=AUTH, timeout=10)
    assert again.json() == answer.json()  # idempotent on edit_id
    texts = wait_converged(text_cluster, 3)
    assert texts["c"] == (INITIAL_TEXT + " Один.", 3)
    restored = edits(text_cluster["c"].url)[-1]
    assert (restored["kind"], restored["agent_id"], restored["summary"]) == ("human", "Ada Lovelace",
                                                                             "restored version 1")
    assert httpx.get(f"{text_cluster['c'].url}/api/document/versions/3", timeout=10).json()["text"] == texts["c"][0]
    for bad in ({"version": 99, "agent_id": "ada"}, {"version": 1}):
        refused = httpx.post(f"{text_cluster['a'].url}/api/document/restore", json=bad, headers=AUTH, timeout=10)
        assert refused.status_code in (404, 422) and "error" in refused.json()
    assert httpx.post(f"{text_cluster['a'].url}/api/document/restore", json=body, timeout=10).status_code == 401


def closes(client: YClient, code: int) -> int:
    return sum(event.get("code") == code for event in client.events)


def wait_closes(client: YClient, code: int, count: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while closes(client, code) < count:
        assert time.monotonic() < deadline, client.events
        time.sleep(0.1)


def stale_changes(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in metrics.splitlines()
               if line.startswith('coedit_people_changes_total{outcome="stale"}'))


def closed_code(url: str, *messages: bytes) -> int:
    """Send `messages` at once on a new Yjs connection; the code the node closes it with."""
    with connect(f"{url.replace('http', 'ws')}/yjs/document?name=old&token={AUTH_TOKEN}", open_timeout=5) as ws:
        for message in messages:
            ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
    return closed.value.rcvd.code


def test_people_start_over_when_the_document_restarts_in_a_new_generation(text_cluster_factory, person):
    """After a generation switch (generations.py) a person's Yjs document is the old
    one: the node closes every connection with RESTARTED, refuses a client that comes
    back with the old document (nothing of it applied), and a new one syncs the text
    and types on."""
    cluster = text_cluster_factory(extra_args=("--generation-edits", "5"))
    url = cluster["a"].url
    ada, carol = person(url, "ada"), person(url, "carol")
    ada.wait_synced()
    carol.wait(lambda s: s["synced"] and "ada" in s["people"], what="ada's cursor")
    ada.call("insert", index=0, text="Ada: ")
    wait_text(cluster, lambda t: t.startswith("Ada: "))
    for i in range(6):
        assert cluster.edit("abc"[i % 3], f"e{i}", {"type": "append", "text": f" {i}"}).status_code == 201
    wait_generation(cluster, 1)
    wait_closes(ada, RESTARTED, 1)
    wait_closes(carol, RESTARTED, 1)
    restarts = [record for record in log_records(cluster["a"].log_path)
                if record.get("event") == "people's connections closed: the document restarted"]
    assert [line["connections"] for line in restarts] == [2]
    texts = wait_converged(cluster, 7)
    text, version = texts["a"]
    history = edits(url)

    # the same y-websocket client, told to reconnect, with its old Y.Doc and a change typed on it
    ada.call("insert", index=0, text="stale ")
    ada.call("connect")
    wait_closes(ada, RESTARTED, 2)
    # a client sending its step 1 and its document at once; one skipping step 1
    stale = Doc()
    stale.apply_update(first_generation(INITIAL_TEXT).genesis)  # what a client of the first generation holds
    stale.get("text", type=Text).insert(0, "stale ")
    update = create_update_message(stale.get_update())
    assert closed_code(url, create_sync_message(stale), update) == RESTARTED
    assert closed_code(url, update) == RESTARTED
    assert stale_changes(url) == 3
    time.sleep(1)  # anything applied would have replicated by now
    assert cluster.texts() == texts and edits(url) == history

    bob = person(url, "bob")
    assert bob.wait_synced()["text"] == text
    assert bob.state()["people"] == ["bob"]  # the closed connections' cursors went with them
    bob.call("insert", index=0, text="Bob: ")
    wait_text(cluster, lambda t: t == "Bob: " + text)
    assert edits(cluster["c"].url)[-1]["agent_id"] == "bob"
    assert closes(ada, RESTARTED) == 2 and closes(bob, RESTARTED) == 0


class Socket:
    """Stands for a client's websocket: keeps the code it was closed with."""

    def __init__(self):
        self.closed: int | None = None

    async def close(self, code: int, reason: str) -> None:
        self.closed = code


async def test_what_a_person_typed_on_the_old_document_is_carried_while_the_text_is_the_same(start_node):
    """The race the restart's close does not cover: a person's changes queued behind
    the freeze come to the writer after the switch. While the new document's text is
    the old one's final text they are made in it, as that person's version; once the
    new document has changed otherwise they are refused. An update of the old document
    on a connection of the new generation (a client skipping sync step 1) is refused.
    A change made on the new document lands."""
    node = await start_node(INITIAL_TEXT, generation_edits=3)
    room = Room(node)
    await write(node, 3)
    text = node.committed.text
    old = Doc()
    old.apply_update(node.doc.doc.get_update())
    ada = Connection(Socket(), "ada", generation=0)
    room.connections.add(ada)  # connected in the first generation

    def typed(index: int, words: str) -> bytes:
        before = old.get_state()
        old.get("text", type=Text).insert(index, words)
        return old.get_update(before)

    freezing = node.enqueue(FreezeWork())
    queued = node.enqueue(PersonChange(room, ada, typed(0, "Ada: ")))
    await freezing
    await switcher(node).step()
    assert node.doc.generation.number == 1
    assert await asyncio.wait_for(queued, 5) == 4
    await asyncio.sleep(0)  # the restart's close
    assert ada.websocket.closed == RESTARTED
    assert await node.submit(PersonChange(room, ada, typed(len("Ada: "), "hi. "))) == 4  # before the close came
    assert (node.committed.text, node.committed.version) == ("Ada: hi. " + text, 4)
    (edit_id,) = node.doc.edits
    assert {key: node.doc.edit_metadata(edit_id)[key] for key in ("kind", "agent_id")} == {
        "kind": "human", "agent_id": "ada"}

    await write(node, 1, prefix="x")  # the new document moves on: old positions mean nothing in it now
    with pytest.raises(DocumentRestarted):
        await node.submit(PersonChange(room, ada, typed(0, "late ")))
    assert room.carry is None
    bob = Connection(Socket(), "bob", generation=1)
    with pytest.raises(DocumentRestarted):
        await node.submit(PersonChange(room, bob, old.get_update(node.doc.doc.get_state())))
    text = "Ada: hi. " + text + " x0"
    assert (node.committed.text, node.committed.version) == (text, 5)

    new = Doc()
    new.apply_update(node.doc.doc.get_update())
    synced = new.get_state()
    new.get("text", type=Text).insert(0, "Bob: ")
    assert await node.submit(PersonChange(room, bob, new.get_update(synced))) == 6
    assert node.committed.text == "Bob: " + text
    assert sorted(node.doc.edit_metadata(e)["agent_id"] for e in node.doc.edits) == ["ada", "bob", "t"]


async def test_the_old_documents_copy_is_freed_soon_after_the_switch(start_node, monkeypatch):
    monkeypatch.setattr(people, "CARRY_SECONDS", 0.2)
    node = await start_node(INITIAL_TEXT, generation_edits=3)
    room = Room(node)
    room.connections.add(Connection(Socket(), "ada", generation=0))
    await write(node, 3)
    await node.submit(FreezeWork())
    await switcher(node).step()
    assert node.doc.generation.number == 1
    await asyncio.sleep(1.0)
    assert room.carry is None  # nothing changed the text, and no connection went: the timer freed it
