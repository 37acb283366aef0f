"""The node's side of the budget escrow (budget.py decides, this talks): it runs
each reservation, settle and spend through the node's writer task, asks peers for
rights when this node's share runs short, forwards a settle to the node holding the
reservation (or records it for that node), and closes this node's expired or
peer-settled reservations."""

import asyncio
import time
from datetime import UTC, datetime

import aiohttp
import structlog
from pydantic import BaseModel

from coedit.common.auth import Caller
from coedit.common.errors import ApiError
from coedit.text_node import budget
from coedit.text_node.errors import (
    BudgetExhausted,
    BudgetUnavailable,
    DocumentSwitching,
    ReservationNotFound,
    StorageUnavailable,
)
from coedit.text_node.models import (
    Budget,
    ForwardedSettle,
    LogRecord,
    ReservationGranted,
    ReserveRequest,
    SettleRequest,
    Settlement,
    SpendRequest,
    TransferRequest,
    TransferResponse,
)
from coedit.text_node.node import BudgetWork, RemoteWork, TextNode, Written
from coedit.text_node.replication import JSON, PEER_ERRORS, Peer, Replicator
from coedit.text_node.store import STORAGE_ERRORS, encode

log = structlog.get_logger(__name__)

ROUNDS = 3  # tries of a request that ran short: ask the peers, then try again
SWEEP_SECONDS = 0.5  # how often this node closes its expired and peer-settled reservations


class BudgetService:
    def __init__(self, node: TextNode, replicator: Replicator, client: aiohttp.ClientSession):
        self.node, self.replicator, self.client = node, replicator, client
        self._gathering = asyncio.Lock()
        self._sweeper: asyncio.Task | None = None

    @property
    def ledger(self) -> budget.Ledger:
        return self.node.doc.ledger

    @property
    def me(self) -> budget.Writer:
        return self.node.writer

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="budget-sweeper")

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)

    def budget(self) -> Budget:
        view = self.node.committed.budget
        return Budget(limit=view.limit, spent=view.spent, reserved=view.reserved, remaining=view.remaining,
                      exhausted=view.exhausted, free_by_node=view.free)

    async def _decide(self, decide) -> Written:
        return await self.node.submit(BudgetWork(decide=decide))

    # -- public operations --
    async def reserve(self, request: ReserveRequest) -> ReservationGranted:
        ttl = request.ttl_seconds or self.node.settings.reservation_ttl
        me = self.me

        def decide(ledger):
            return budget.reserve(ledger, me, request.reservation_id, request.agent_id, request.tokens,
                                  time.time() + ttl)

        answer = await self._charge(decide, request.tokens, wait_for_reservations=True)
        return ReservationGranted(
            reservation_id=answer.reservation_id, tokens=answer.tokens, node_id=answer.node,
            expires_at=datetime.fromtimestamp(answer.expires_at, UTC),
        )

    async def spend(self, request: SpendRequest) -> Budget:
        """The old route: tokens used without a reservation, charged only if they fit."""
        me = self.me
        await self._charge(
            lambda ledger: budget.spend(ledger, me, request.spend_id, request.agent_id, request.tokens),
            request.tokens,
        )
        return self.budget()

    async def ensure(self, tokens: int) -> None:
        """Before an edit that carries tokens: bring rights from peers if ours fall short."""
        if tokens and budget.free_rights(self.ledger, self.me) < tokens:
            await self._gather(tokens)

    async def _charge(self, decide, tokens: int, wait_for_reservations: bool = False):
        """Run a reserve or spend; when this node's share is short, ask the peers
        for rights and try again. 429 when the whole budget cannot cover it (a
        reserve: even once every open reservation is settled); 503 (retry) when it
        could but the rights are on nodes that do not answer, or, for a reserve, when
        open reservations hold them now (model calls in flight: settled, they give
        most of it back). A spend, for tokens already used, is charged now or never."""
        for _ in range(ROUNDS):
            answer = (await self._decide(decide)).answer
            if not isinstance(answer, budget.Short):
                return answer
            view = self.ledger.view(self.me.limit)
            # what no node's share holds (the limit's remainder over the nodes) is never usable
            unspent = min(view.limit, self.me.usable) - view.spent
            free = unspent - view.reserved
            if (unspent if wait_for_reservations else free) < tokens:
                me = self.me
                await self._decide(lambda ledger: (budget.refuse(ledger, me), None))
                raise BudgetExhausted("the session's token budget cannot cover this request")
            if free < tokens:  # a reserve: the calls in flight hold it
                raise BudgetUnavailable("the budget's unused rights are held by reservations in flight; retry "
                                        "once they are settled", retry_after_seconds=1)
            if not await self._gather(tokens):
                break
        raise BudgetUnavailable("the budget's unused rights are held by nodes that do not answer now; retry",
                                retry_after_seconds=1)

    async def settle(self, request: SettleRequest, settler: str | None = None,
                     forwarded: bool = False) -> tuple[int, Settlement]:
        """(HTTP status, answer): 200 settled, 202 recorded for the owner node to apply.
        `settler`: the agent whose own token sent it (None: the session token), who
        may settle only their own reservations: where no node that holds the
        reservation answers, theirs cannot be checked, so 503 (retry) instead of 202."""
        owners = self.ledger.owned(request.reservation_id)
        if settler is not None:
            for reservation in owners:
                Caller(settler).may_write_as(reservation.agent_id)
        first = min((r.writer for r in owners), default=None)
        mine = [r for r in owners if r.writer == self.me.id]
        if mine:  # a reservation held twice (a retry on another node) is charged once
            return 200, await self._settle_own(request.reservation_id, request.tokens if first == self.me.id else 0)
        if forwarded:
            raise ReservationNotFound("this node holds no such reservation")
        nodes = {r.node for r in owners}
        peers = [p for p in self.replicator.peers if not nodes or p.node_id in nodes or p.node_id is None]
        forward = ForwardedSettle(**request.model_dump(), settler=settler)
        missed = False
        for peer in peers:
            try:
                return 200, Settlement.model_validate_json(
                    await self._call(peer, "/internal/budget/settle", forward)
                )
            except aiohttp.ClientResponseError as error:
                if error.status == 403:  # the reservation's node: it is another agent's
                    raise ApiError(403, "agent_mismatch", "this reservation is another agent's") from error
                missed |= error.status != 404
            except PEER_ERRORS:
                missed = True
        if not missed and not owners:
            raise ReservationNotFound("no node holds this reservation")
        if settler is not None and not owners:
            raise BudgetUnavailable("no node that holds this reservation answers now; retry", retry_after_seconds=1)
        me = self.me
        await self._decide(lambda ledger: (budget.request_settle(ledger, me, request.reservation_id,
                                                                 request.tokens), None))
        log.info("settle recorded for the reservation's node", reservation_id=request.reservation_id)
        return 202, Settlement(reservation_id=request.reservation_id, state="pending", tokens=request.tokens)

    async def _settle_own(self, reservation_id: str, tokens: int) -> Settlement:
        me = self.me
        reservation = self.ledger.reservations[reservation_id][me.id]
        held = reservation.tokens if reservation.state == "open" else 0
        if reservation.state != "settled" and tokens > held + budget.free_rights(self.ledger, me):
            await self._gather(tokens - held)  # the excess, if the peers can spare it

        def decide(ledger):
            return budget.settle(ledger, me, ledger.reservations[reservation_id][me.id], tokens)

        settled: budget.Settled = (await self._decide(decide)).answer
        if settled.unrecorded:
            log.warning("a settle exceeded its reservation and the free budget", reservation_id=reservation_id,
                        unrecorded=settled.unrecorded)
        return Settlement(reservation_id=reservation_id, state="settled", tokens=settled.reservation.used,
                          released=settled.released, unrecorded=settled.unrecorded)

    # -- rights between nodes --
    async def give(self, request: TransferRequest) -> TransferResponse:
        """A peer ran short: give it rights from our free share (internal route)."""
        me = self.me
        written = await self._decide(lambda ledger: budget.give(ledger, me, request.writer, request.tokens))
        record = None
        if written.entry is not None:
            record = LogRecord(seq=0, kind="spend", record_id=written.entry.key, origin=self.node.node_id,
                               update=encode(written.update), generation=written.generation)
        return TransferResponse(node_id=self.node.node_id, epoch=self.node.epoch, tokens=written.answer,
                                record=record)

    async def _gather(self, tokens: int) -> bool:
        """Ask peers for rights until ours cover `tokens`; whether they do. One
        round at a time: requests that ran short together share what it brings."""
        async with self._gathering:
            me = self.me
            free = self.ledger.view(me.limit).free
            # the peers the ledger shows with the most to spare first; those it shows with none last
            for peer in sorted(self.replicator.peers, key=lambda p: -free.get(p.node_id, 0)):
                need = tokens - budget.free_rights(self.ledger, me)
                if need <= 0:
                    break
                asking = TransferRequest(genesis=self.node.doc.genesis, writer=me.id, tokens=need)
                try:
                    answer = TransferResponse.model_validate_json(
                        await self._call(peer, "/internal/budget/transfer", asking)
                    )
                except PEER_ERRORS as error:
                    log.info("peer could not give budget rights", peer=peer.url, error=str(error) or type(error).__name__)
                    continue
                if answer.record is not None:
                    await self.node.submit(RemoteWork(peer=answer.node_id, epoch=answer.epoch,
                                                      records=[answer.record], after_seq=None, last_seq=0))
            return budget.free_rights(self.ledger, me) >= tokens

    async def _call(self, peer: Peer, path: str, body: BaseModel) -> bytes:
        async with self.client.post(f"{peer.url}{path}", data=body.model_dump_json().encode(),
                                    headers=JSON) as response:
            response.raise_for_status()
            return await response.read()

    # -- closing this node's reservations --
    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except (StorageUnavailable, DocumentSwitching, *STORAGE_ERRORS) as error:  # the next round retries
                log.warning("budget sweep failed", error=repr(error))
            except Exception:  # a bad round must never end the loop
                log.exception("budget sweep failed")

    async def sweep(self) -> None:
        me = self.me
        if budget.due(self.ledger, me, time.time()):
            await self._decide(lambda ledger: (budget.close(ledger, me, budget.due(ledger, me, time.time())), None))
