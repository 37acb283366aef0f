"""Replication between text nodes.

Each node serves, in order, the records its own clients wrote (its edits and
spends), and each node gets every peer's records from that peer:
- Push: after each commit the node sends its new records to every peer (one sender
  task per peer, so pushes stay in order; at most one push per `PUSH_LINGER` to a
  peer: after a quiet spell a commit goes at once, under load one request carries many;
  a person's records never wait for it). The peer answers a push once it has queued it
  (so the next push does not wait for the peer's commit) and relays it to its Yjs
  connections at once (people.py): it was committed before it was pushed.
- Pull (catch-up and anti-entropy): at start-up and every `sync_interval` seconds a
  node reads each peer's records after the position it last reached (a cursor per
  peer, committed with the records it covers; pushes move it too, so in steady
  state a pull brings nothing).
- Check and repair: the nodes exchange CRDT state vectors and report how many edits
  each side lacks. A node that, after pulling, still lacks what a peer held a round
  earlier asks that peer for the state-vector diff and applies it as one `sync`
  record. That also relays the edits of a node that is gone for good, and completes
  records Yrs left pending because they arrived out of causal order (the property
  test in tests/text_node shows it).
A dead peer never blocks writes: pushes to it are dropped, and it pulls later."""

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import structlog
from prometheus_client import Gauge
from pydantic import BaseModel

from coedit.text_node.models import (
    DiffResponse,
    LogPage,
    LogRecord,
    PeerStatus,
    Push,
    SyncRequest,
    SyncResponse,
)
from coedit.text_node.errors import StorageUnavailable
from coedit.text_node.node import RemoteWork, TextNode, is_persons, joined_span
from coedit.text_node.store import decode, encode

log = structlog.get_logger(__name__)

PEER_UP = Gauge("coedit_replication_peer_up", "1 when the last exchange with the peer worked", ["peer"])
LAG_EDITS = Gauge(
    "coedit_replication_lag_edits", "Edits one side lacks (from state vectors)", ["peer", "direction"]
)
LAG_SECONDS = Gauge("coedit_replication_lag_seconds", "How long this node has lacked the peer's edits", ["peer"])

PAGE = 1000
OUTBOX_LIMIT = 10_000  # pushes waiting for a slow peer; beyond it the pull catches up
# At most one push to a peer per PUSH_LINGER: a commit after a quiet spell is pushed at
# once, one that follows a push closer than that waits out the rest and shares the next
# request with the commits meanwhile. Under load a commit lands every few ms, and a
# request per commit costs both nodes more CPU than the records in it. Measured at 10
# writers: 50 ms instead of 10 ms cut the nodes' CPU per edit by a fifth. A person's
# record does not linger (it sat in a keystroke's path: up to 50 ms of the 100 ms
# target): it goes as soon as the push before it is answered (queued by the peer),
# with whatever is queued here.
PUSH_LINGER = 0.05
PUSH_BYTES = 512 * 1024  # merging stops here: a push stays under the peers' 1 MiB body limit
PEER_ERRORS = (aiohttp.ClientError, TimeoutError)  # a peer down, slow or refusing
JSON = {"Content-Type": "application/json"}


@dataclass
class Peer:
    url: str
    node_id: str | None = None
    reachable: bool = False
    last_success: datetime | None = None
    last_error: str | None = None
    peer_lacks: int | None = None
    we_lack: int | None = None
    lacking_since: float | None = None
    previous_state: tuple[int, bytes] | None = None  # the peer's generation and state vector at the last round
    generation: int | None = None  # the peer's document generation at the last round
    outbox: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(OUTBOX_LIMIT))
    last_push: float = float("-inf")  # time.monotonic() of the last push sent
    person_waiting: asyncio.Event = field(default_factory=asyncio.Event)  # the outbox holds a person's record

    def status(self) -> PeerStatus:
        lag = time.monotonic() - self.lacking_since if self.lacking_since else 0.0
        return PeerStatus(
            url=self.url, node_id=self.node_id, reachable=self.reachable,
            last_success=self.last_success, last_error=self.last_error,
            peer_lacks_edits=self.peer_lacks, we_lack_edits=self.we_lack, lag_seconds=lag,
        )

    @property
    def label(self) -> str:
        return self.node_id or self.url


class Replicator:
    def __init__(self, node: TextNode, peer_urls: list[str], interval: float, client: aiohttp.ClientSession):
        self.node = node
        self.peers = [Peer(url) for url in peer_urls]
        self.interval = interval
        self.client = client
        self._tasks: list[asyncio.Task] = []
        node.on_commit.append(self._enqueue_push)

    async def catch_up(self) -> None:
        """One pull round against every peer that answers (start-up, before ready)."""
        started, version = time.perf_counter(), self.node.committed.version
        await asyncio.gather(*(self._round(peer) for peer in self.peers))
        log.info("caught up", seconds=round(time.perf_counter() - started, 3),
                 edits=self.node.committed.version - version)

    def start(self) -> None:
        for peer in self.peers:
            self._tasks.append(asyncio.create_task(self._push_loop(peer), name=f"push-{peer.url}"))
            self._tasks.append(asyncio.create_task(self._sync_loop(peer), name=f"sync-{peer.url}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- push --
    def _enqueue_push(self, prev_own_seq: int, records: list[LogRecord], contexts: list) -> None:
        """Push what this node's own clients wrote (each node serves its own records;
        what it received from a peer, that peer sends)."""
        own = [(r, c) for r, c in zip(records, contexts) if r.origin == self.node.node_id]
        if not own:
            return
        records, contexts = [r for r, _ in own], [c for _, c in own]
        persons = any(is_persons(r) for r in records)
        for peer in self.peers:
            try:
                peer.outbox.put_nowait((prev_own_seq, records, contexts))
            except asyncio.QueueFull:
                continue  # the peer is far behind; its pull will fetch these
            if persons:
                peer.person_waiting.set()

    async def _push_loop(self, peer: Peer) -> None:
        """The peer's one sender. Nothing it meets ends it: the peer would get this
        node's records only from its pulls."""
        while True:
            try:
                await self._push_next(peer)
            except Exception as error:  # a bug: these records reach the peer by its next pull
                log.exception("a push failed; the peer's pull fetches its records", peer=peer.label)
                self._failed(peer, error)

    async def _push_next(self, peer: Peer) -> None:
        after_seq, records, contexts = await peer.outbox.get()
        if (wait := peer.last_push + PUSH_LINGER - time.monotonic()) > 0 and not peer.person_waiting.is_set():
            with contextlib.suppress(TimeoutError):  # a person's keystroke ends the linger
                await asyncio.wait_for(peer.person_waiting.wait(), wait)
        peer.person_waiting.clear()  # what is queued now goes in this push (or leads the next)
        size = sum(len(r.update) for r in records)
        while not peer.outbox.empty() and len(records) < PAGE and size < PUSH_BYTES:
            prev_seq, more, more_contexts = peer.outbox.get_nowait()
            if prev_seq != records[-1].seq:  # a push was dropped (outbox full) in between:
                after_seq = prev_seq  # only the records after it are contiguous
            records, contexts = records + more, contexts + more_contexts
            size += sum(len(r.update) for r in more)
        push = Push(node_id=self.node.node_id, epoch=self.node.epoch, genesis=self.node.doc.genesis,
                    after_seq=after_seq, records=records)
        peer.last_push = time.monotonic()
        with joined_span("replication.push", contexts) as span:
            span.set_attributes({"coedit.peer": peer.label, "coedit.records": len(records)})
            try:
                await self._call("POST", f"{peer.url}/internal/records", push)
            except PEER_ERRORS as error:
                self._failed(peer, error)

    # -- pull and check --
    async def _sync_loop(self, peer: Peer) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._round(peer)

    async def _round(self, peer: Peer) -> None:
        try:
            await self._pull(peer)
            await self._compare(peer)
        except (*PEER_ERRORS, ValueError, StorageUnavailable) as error:  # the peer or our database away
            self._failed(peer, error)
        except Exception as error:  # a bad round must never end the loop
            log.exception("replication round failed", peer=peer.url)
            self._failed(peer, error)

    async def _pull(self, peer: Peer) -> None:
        full_resync = False
        while True:
            after = 0 if full_resync else self._cursor(peer)
            page = LogPage.model_validate_json(
                await self._call("GET", f"{peer.url}/internal/log", params={"after": after, "limit": PAGE})
            )
            self._check_genesis(page.genesis)
            peer.node_id = page.node_id
            ours = self.node.doc.generation.number
            if newer := [i for i, r in enumerate(page.records) if r.generation > ours]:
                # the peer switched generation first: take what comes before, then wait to switch too
                page.records = page.records[:newer[0]]
                page.last_seq = page.records[-1].seq if page.records else after
            if page.epoch != self.node.cursors.get(page.node_id, (page.epoch, 0))[0] and after:
                full_resync = True  # the peer's database is new: start from its beginning
                continue
            if page.last_seq > after:  # records, or only a longer log: the cursor moves
                await self.node.submit(RemoteWork(
                    peer=page.node_id, epoch=page.epoch, records=page.records,
                    after_seq=after, last_seq=page.last_seq,
                ))
            full_resync = False
            if len(page.records) < PAGE or newer:
                return

    async def _compare(self, peer: Peer) -> None:
        answer = await self.ask(peer)
        if answer.generation != self.node.doc.generation.number:  # state vectors of two documents
            peer.previous_state = peer.peer_lacks = peer.we_lack = peer.lacking_since = None
            self._reached(peer)
            return
        request = self.sync_request()
        peer.peer_lacks = self.node.doc.edits_missing_from(decode(answer.state_vector))
        peer.we_lack = answer.you_lack_edits
        if peer.we_lack:
            peer.lacking_since = peer.lacking_since or time.monotonic()
        else:
            peer.lacking_since = None
        # Under load there are always edits in flight, so lacking the peer's latest
        # state means nothing. Lacking what the peer had a whole round ago, after
        # pulling since, does: those records are stuck (pending in Yrs) or lost.
        generation = self.node.doc.generation.number
        if peer.previous_state and peer.previous_state[0] == generation and self.node.doc.lacks_anything_from(
                peer.previous_state[1]):
            await self.repair(peer, request)
        peer.previous_state = (answer.generation, decode(answer.state_vector))
        self._reached(peer)

    def sync_request(self) -> SyncRequest:
        doc = self.node.doc
        return SyncRequest(node_id=self.node.node_id, genesis=doc.genesis, generation=doc.generation.number,
                           state_vector=encode(doc.state_vector()))

    async def ask(self, peer: Peer) -> SyncResponse:
        """The peer's state: its state vector, generation and whether it is frozen."""
        answer = SyncResponse.model_validate_json(
            await self._call("POST", f"{peer.url}/internal/sync", self.sync_request())
        )
        peer.node_id, peer.generation = answer.node_id, answer.generation
        return answer

    def _reached(self, peer: Peer) -> None:
        peer.reachable, peer.last_error = True, None
        peer.last_success = datetime.now(UTC)
        self._export(peer)

    async def repair(self, peer: Peer, request: SyncRequest) -> None:
        log.warning("still lacking the peer's edits after pulling; applying its diff",
                    peer=peer.label, lacking=peer.we_lack)
        diff = DiffResponse.model_validate_json(await self._call("POST", f"{peer.url}/internal/diff", request))
        record = LogRecord(seq=0, kind="sync", record_id=uuid.uuid4().hex, origin=diff.node_id,
                           update=diff.update, generation=diff.generation)
        await self.node.submit(RemoteWork(peer=diff.node_id, epoch="", records=[record],
                                          after_seq=None, last_seq=0))

    async def _call(self, method: str, url: str, body: BaseModel | None = None, params: dict | None = None) -> bytes:
        """One request to a peer: the answer's body, or one of PEER_ERRORS."""
        data, headers = (body.model_dump_json().encode(), JSON) if body else (None, None)
        async with self.client.request(method, url, data=data, params=params, headers=headers) as response:
            response.raise_for_status()
            return await response.read()

    def _cursor(self, peer: Peer) -> int:
        return self.node.cursors.get(peer.node_id, ("", 0))[1] if peer.node_id else 0

    def _check_genesis(self, genesis: str) -> None:
        if genesis != self.node.doc.genesis:
            raise ValueError("the peer's document started from another initial text; not replicating")

    def _failed(self, peer: Peer, error: Exception) -> None:
        if peer.reachable or peer.last_error is None:
            log.warning("peer unreachable", peer=peer.url, error=str(error) or type(error).__name__)
        peer.reachable = False
        peer.last_error = str(error) or type(error).__name__
        self._export(peer)

    def _export(self, peer: Peer) -> None:
        status = peer.status()
        PEER_UP.labels(peer.label).set(1 if peer.reachable else 0)
        LAG_EDITS.labels(peer.label, "peer_lacks").set(peer.peer_lacks or 0)
        LAG_EDITS.labels(peer.label, "we_lack").set(peer.we_lack or 0)
        LAG_SECONDS.labels(peer.label).set(status.lag_seconds)
