"""Document generations: how the nodes restart the session's document so that a
node's memory does not grow with every edit it has ever held.

A CRDT keeps an item for every change (a deleted character stays as a tombstone,
every edit's entry stays in the edit log), so the document only grows. Once a
generation holds `generation_edits` edits, the nodes start the next one: a new
document whose first update (its *genesis*) holds the current text and the
compacted budget ledger and an empty edit log (the edits stay in each node's
`versions` table, which serves them). For every node to start the same document,
the next genesis is computed from a state every node holds, at which no node
writes any more:

1. *Freeze.* A node that is due (and sees every peer in its generation), or that
   sees a peer frozen in its generation or in a later one, freezes: durably first,
   then it takes no more writes in this generation (they wait, then 503
   `document_switching`). It still takes in what its peers hold, so the frozen
   nodes converge.
2. *Agree.* Each frozen node advertises the digest of the genesis it would start
   (`next_digest` in `/internal/sync`). A node switches once every peer advertises
   the same digest while frozen, or has already started the generation with that
   digest: then no node can write in this generation any more, and all hold the
   state that digest was computed from.
3. *Switch.* In one transaction the node records the new generation (its genesis,
   the edits before it, where its records start in the log); then it starts the new
   document, thaws, and closes its people's Yjs connections (their editors reload:
   people.py). Its records from now on carry the new generation; a peer's records
   of an older one are already in its genesis, and of a newer one wait until this
   node has switched too.

A node that is away while the others are frozen holds them until it is back (the
freeze survives restarts on every side), so no write is lost and none lands in a
generation the others have left; writes get 503 meanwhile. The nodes freeze only
when every peer answered in the same generation, so a node that is known to be
away does not start it."""

import asyncio

import structlog

from coedit.text_node.models import SyncResponse
from coedit.text_node.node import FreezeWork, SwitchWork, TextNode
from coedit.text_node.replication import PEER_ERRORS, Replicator

log = structlog.get_logger(__name__)

FROZEN_POLL_SECONDS = 0.1  # how often a frozen node asks its peers whether they agree
BEHIND_SECONDS = 3.0  # a node behind a peer's generation for this long asks it for what it lacks


class Switcher:
    """Decides, on each node, when to freeze and when to switch (the node's writer
    does both, between its group commits)."""

    def __init__(self, node: TextNode, replicator: Replicator, generation_edits: int, interval: float):
        self.node, self.replicator = node, replicator
        self.generation_edits, self.interval = generation_edits, interval
        self._task: asyncio.Task | None = None
        self._waiting_logged = False
        self._behind_since: float | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="text-node-generations")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(FROZEN_POLL_SECONDS if self.node.frozen else self.interval)
            try:
                await self.step()
            except Exception:  # a bad step must never end the loop
                log.exception("generation step failed")

    async def step(self) -> None:
        """Ask every peer where it stands, then freeze or switch if it is time."""
        answers = await asyncio.gather(*(self._ask(peer) for peer in self.replicator.peers))
        if not self.node.frozen:
            if self._should_freeze(answers):
                await self.node.submit(FreezeWork())
            return
        if not self.node.history.complete.is_set():  # a version's delta needs this generation's log
            return
        generation, digest = self.node.doc.generation.number, self.node.next_generation().digest
        if all(answer is not None and agrees(answer, generation, digest) for answer in answers):
            self._waiting_logged, self._behind_since = False, None
            await self.node.submit(SwitchWork(digest))
            return
        ahead = [peer for peer, answer in zip(self.replicator.peers, answers)
                 if answer is not None and answer.generation > generation]
        if ahead:
            await self._catch_up(ahead[0])
        elif not self._waiting_logged:
            self._waiting_logged = True
            log.info("frozen, waiting for every peer to agree on the next generation", digest=digest,
                     peers={p.label: _stand(a) for p, a in zip(self.replicator.peers, answers)})

    async def _catch_up(self, peer) -> None:
        """Behind a peer that has left this generation (this node's database is newer
        than the peers', say): its pulls bring that peer's own records, and what came
        from nodes that are gone the peer rebuilds from its log, after a while."""
        now = asyncio.get_running_loop().time()
        if self._behind_since is None:
            self._behind_since = now
        elif now - self._behind_since >= BEHIND_SECONDS:
            self._behind_since = now
            try:
                await self.replicator.repair(peer, self.replicator.sync_request())
            except (*PEER_ERRORS, ValueError) as error:
                log.warning("could not catch up with a peer's later generation", peer=peer.label, error=repr(error))

    def _should_freeze(self, answers: list[SyncResponse | None]) -> bool:
        ours = self.node.doc.generation.number
        if any(a is not None and (a.generation > ours or (a.generation == ours and a.frozen)) for a in answers):
            return True  # a peer has begun: join it
        held = self.node.doc.version - self.node.doc.generation.base_version
        return (0 < self.generation_edits <= held and self.node.history.complete.is_set()
                and all(a is not None and a.generation == ours for a in answers))

    async def _ask(self, peer) -> SyncResponse | None:
        try:
            return await self.replicator.ask(peer)
        except (*PEER_ERRORS, ValueError):
            return None


def agrees(answer: SyncResponse, generation: int, digest: str) -> bool:
    """Whether a peer's answer shows it will start (or has started) the next
    generation with `digest`, taking no more writes in `generation` meanwhile."""
    if answer.generation == generation:
        return answer.frozen and answer.next_digest == digest
    return answer.generation > generation and answer.generation_digests[generation:generation + 1] == [digest]


def _stand(answer: SyncResponse | None) -> str:
    if answer is None:
        return "unreachable"
    return f"generation {answer.generation}" + (f", frozen at {answer.next_digest}" if answer.frozen else "")
