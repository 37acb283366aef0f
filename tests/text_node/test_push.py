"""The push sender on its own: a replicator of a stand-in node, pushing to an
in-process peer that records every request it gets."""

import asyncio
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry import context

from coedit.text_node import replication
from coedit.text_node.models import LogRecord, Push
from coedit.text_node.replication import Replicator


async def pushes_for(commits: list[tuple[int, list[int]]], update: str = "AA==", kind: str = "edit",
                     pause: float = 0, expected: int | None = None) -> list[Push]:
    """Commit (previous own seq, seqs of its records) one after another, as the
    writer calls back (`pause` seconds apart after the first), to a sender pushing to
    one peer. The pushes it got, once `expected` records came (default: every one)."""
    received, everything = [], asyncio.Event()
    total = sum(len(seqs) for _, seqs in commits) if expected is None else expected

    async def receive(request: web.Request) -> web.Response:
        received.append(Push.model_validate_json(await request.read()))
        if sum(len(push.records) for push in received) == total:
            everything.set()
        return web.json_response({"applied": len(received[-1].records)})

    app = web.Application()
    app.router.add_post("/internal/records", receive)
    node = SimpleNamespace(node_id="a", epoch="e1", doc=SimpleNamespace(genesis="g"), on_commit=[])
    async with TestServer(app) as peer, aiohttp.ClientSession() as client:
        replicator = Replicator(node, [f"http://{peer.host}:{peer.port}"], 3600, client)
        replicator.start()
        for n, (prev_own_seq, seqs) in enumerate(commits):
            records = [LogRecord(seq=s, kind=kind, record_id=f"e{s}", origin="a", update=update) for s in seqs]
            node.on_commit[0](prev_own_seq, records, [context.get_current()] * len(records))
            if n == 0:
                await asyncio.sleep(0)  # the sender takes the first commit: the others come after it
            elif pause:
                await asyncio.sleep(pause)
        try:
            await everything.wait()
        finally:
            await replicator.stop()
    return received


async def test_a_burst_of_commits_is_one_push_after_the_first():
    """The first commit after a quiet spell goes at once (a keystroke waits for nothing);
    the commits that follow within PUSH_LINGER share the next request."""
    pushes = await pushes_for([(seq - 1, [seq]) for seq in range(1, 51)])
    assert [(p.after_seq, [r.seq for r in p.records]) for p in pushes] == [(0, [1]), (1, list(range(2, 51)))]


async def test_a_persons_keystrokes_do_not_wait_out_the_linger(monkeypatch):
    """Keystrokes 200 ms apart (an in-process push is answered well within that, even
    on a loaded machine): each push as soon as the one before is answered, where
    agents' commits would share one push after the linger."""
    monkeypatch.setattr(replication, "PUSH_LINGER", 3600)
    commits = [(seq - 1, [seq]) for seq in range(1, 6)]
    pushes = await asyncio.wait_for(pushes_for(commits, kind="text", pause=0.2), 30)
    assert [r.seq for p in pushes for r in p.records] == [1, 2, 3, 4, 5] and len(pushes) > 2
    with pytest.raises(TimeoutError):  # the same commits by agents wait out the (hour-long) linger
        await asyncio.wait_for(pushes_for(commits, pause=0.05), 1)


async def test_a_merge_over_a_dropped_push_claims_only_what_follows_it():
    # records 5 and 6 never reached the outbox (it was full): the peer must not
    # move its cursor past them on this push, only from 6 on
    pushes = await pushes_for([(0, [1, 2]), (2, [3]), (3, [4]), (6, [7, 8]), (8, [9])])
    assert [(p.after_seq, [r.seq for r in p.records]) for p in pushes] == [(0, [1, 2]), (6, [3, 4, 7, 8, 9])]


async def test_merging_stops_before_a_push_outgrows_the_body_limit():
    big = "A" * 200_000  # base64 of a large update
    pushes = await pushes_for([(seq - 1, [seq]) for seq in range(1, 9)], update=big)
    assert [(p.after_seq, [r.seq for r in p.records]) for p in pushes] == [
        (0, [1]), (1, [2, 3, 4]), (4, [5, 6, 7]), (7, [8])]
    assert all(len(p.model_dump_json()) < 1 << 20 for p in pushes)


async def test_a_push_that_fails_for_any_reason_leaves_the_sender_pushing(monkeypatch):
    """A bug while making one push (not only a peer away) must not end the sender:
    the peer would get nothing more until its next pull."""
    made = []

    def failing_once(**fields):
        made.append(fields)
        if len(made) == 1:
            raise RuntimeError("a bug while making the push")
        return Push(**fields)

    monkeypatch.setattr(replication, "Push", failing_once)
    received = await asyncio.wait_for(pushes_for([(0, [1]), (1, [2])], pause=0.1, expected=1), 30)
    assert [r.seq for p in received for r in p.records] == [2]
