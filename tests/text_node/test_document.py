"""The CRDT document on its own: three in-process replicas, any delivery order."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from coedit.common.anchors import AnchorError
from coedit.text_node.document import ReplicatedDocument
from coedit.text_node.history import replay
from coedit.text_node.models import EditRequest

INITIAL = "Роботы 🤖 читали сказки про космос."
WORDS = ["кот", "🚀", "звёзды", "robot", " ", ".", "ёж", "🤖"]


def edit(doc: ReplicatedDocument, edit_id: str, rng: random.Random, tokens: int = 0):
    text = doc.current_text()
    kind = rng.choice(["insert_after", "insert_before", "replace", "delete", "append"])
    start = rng.randrange(len(text)) if text else 0
    anchor = text[start : start + rng.randint(1, 4)]
    body = {"type": kind, "anchor": anchor, "text": rng.choice(WORDS)}
    if kind == "append" or not anchor:
        body = {"type": "append", "text": rng.choice(WORDS)}
    if anchor and kind != "append":
        body["occurrence"] = 1
    request = EditRequest(edit_id=edit_id, agent_id="p", op=body, tokens=tokens)
    try:
        return doc.apply_edit(request, "n")
    except AnchorError:
        return None


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), steps=st.integers(1, 40), duplicate=st.floats(0, 0.5),
       partitioned=st.booleans())
def test_replicas_converge_whatever_the_delivery(seed, steps, duplicate, partitioned):
    rng = random.Random(seed)
    replicas = [ReplicatedDocument(INITIAL) for _ in range(3)]
    in_flight: list[tuple[int, bytes]] = []  # (destination, update)
    for step in range(steps):
        origin = rng.randrange(3)
        change = edit(replicas[origin], f"e{step}", rng, tokens=rng.randint(0, 5))
        if change:
            in_flight += [(dest, change.update) for dest in range(3) if dest != origin]
        # deliver some messages in random order, sometimes twice; a partition holds node 2's
        rng.shuffle(in_flight)
        keep = []
        for dest, update in in_flight:
            if (partitioned and dest == 2 and step < steps // 2) or rng.random() < 0.4:
                keep.append((dest, update))
                continue
            replicas[dest].apply_update(update, delta=rng.random() < 0.7)  # else as in bulk
            if rng.random() < duplicate:
                keep.append((dest, update))
        in_flight = keep
    for dest, update in in_flight:
        replicas[dest].apply_update(update)
    # One anti-entropy round, as the nodes run it: whoever still lacks edits (Yrs can
    # keep out-of-order records pending) applies the state-vector diff of each peer.
    for replica in replicas:
        for peer in replicas:
            if replica.lacks_anything_from(peer.state_vector()):
                replica.apply_update(peer.doc.get_update(replica.state_vector()))
    texts = {r.current_text() for r in replicas}
    assert len(texts) == 1
    assert all(r.current_text() == str(r.text) for r in replicas)  # the cached text is right
    assert all(r.chars() == len(str(r.text)) for r in replicas)
    assert len({r.version for r in replicas}) == 1
    assert len({r.spent for r in replicas}) == 1
    for r in replicas:
        assert all(r.edits_missing_from(other.state_vector()) == 0 for other in replicas)


def test_missing_edits_are_counted_from_state_vectors():
    a, b = ReplicatedDocument(INITIAL), ReplicatedDocument(INITIAL)
    rng = random.Random(1)
    changes = [c for i in range(10) if (c := edit(a, f"e{i}", rng))]
    assert a.edits_missing_from(b.state_vector()) == len(changes)
    for change in changes[:4]:
        b.apply_update(change.update)
    assert a.edits_missing_from(b.state_vector()) == len(changes) - 4


def test_same_initial_text_merges_once():
    a, b = ReplicatedDocument("Один."), ReplicatedDocument("Один.")
    b.apply_update(a.doc.get_update())
    assert b.current_text() == "Один."


def test_deltas_replay_every_version():
    doc = ReplicatedDocument(INITIAL)
    rng = random.Random(7)
    texts, deltas = [INITIAL], []
    for i in range(200):
        if change := edit(doc, f"e{i}", rng):
            deltas.append(change.delta)
            texts.append(doc.current_text())
    for version, text in enumerate(texts):
        assert replay(INITIAL, deltas[:version]) == text


def test_deltas_of_peer_records_replay_the_receivers_versions():
    """A receiver's history: its own order of integration, from the deltas Yrs
    reports for each peer record (they are computed on the receiver's text)."""
    rng = random.Random(11)
    writers, receiver = [ReplicatedDocument(INITIAL) for _ in range(2)], ReplicatedDocument(INITIAL)
    texts, deltas = [INITIAL], []
    for i in range(150):
        change = edit(writers[i % 2], f"e{i}", rng)
        if change is None:
            continue
        writers[(i + 1) % 2].apply_update(change.update) if rng.random() < 0.5 else None
        received = receiver.apply_update(change.update)
        if received.new_edits:
            deltas.append(received.delta)
            texts.append(receiver.current_text())
            assert receiver.chars() == len(texts[-1])
    assert len(texts) > 100
    for version, text in enumerate(texts):
        assert replay(INITIAL, deltas[:version]) == text


def test_a_bulk_apply_skips_the_delta_and_rebuilds_the_text():
    a, b = ReplicatedDocument(INITIAL), ReplicatedDocument(INITIAL)
    changes = [c for i in range(30) if (c := edit(a, f"e{i}", random.Random(i)))]
    applied = [b.apply_update(c.update, delta=False) for c in changes]
    assert all(c.delta is None for c in applied) and b.version == len(changes)
    assert b.current_text() == a.current_text() and b.chars() == len(a.current_text())


def test_duplicate_update_changes_nothing():
    a, b = ReplicatedDocument(INITIAL), ReplicatedDocument(INITIAL)
    change = edit(a, "e1", random.Random(3), tokens=7)
    first = b.apply_update(change.update)
    again = b.apply_update(change.update)
    assert len(first.new_edits) == 1 and first.tokens == 7
    assert again.new_edits == [] and again.delta == [] and b.spent == 7
