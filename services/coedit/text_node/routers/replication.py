"""Replication: the public status and the node-to-node routes (token required)."""

import asyncio
from typing import Annotated

import structlog

from fastapi import APIRouter, Depends, Query

from coedit.common.auth import require_token
from coedit.common.errors import ApiError, error_responses
from coedit.text_node.deps import get_node, get_replicator
from coedit.text_node.models import (
    DiffResponse,
    LogPage,
    LogRecord,
    Push,
    Replication,
    SyncRequest,
    SyncResponse,
)
from coedit.text_node.node import RemoteWork, TextNode
from coedit.text_node.replication import Replicator
from coedit.text_node.store import decode, encode

log = structlog.get_logger(__name__)

public = APIRouter(prefix="/api/replication", tags=["replication"])
internal = APIRouter(prefix="/internal", tags=["internal"], dependencies=[Depends(require_token)],
                     responses=error_responses(401, 409, 413, 503))
Node = Annotated[TextNode, Depends(get_node)]


@public.get("", response_model=Replication)
async def replication_status(node: Node, replicator: Annotated[Replicator, Depends(get_replicator)]):
    committed = node.committed
    return Replication(
        node_id=node.node_id, version=committed.version, text_digest=committed.digest,
        history_complete=node.history.complete.is_set(),
        generation=node.doc.generation.number, frozen=node.frozen,
        peers=[peer.status() for peer in replicator.peers],
    )


def same_genesis(node: TextNode, genesis: str) -> None:
    if genesis != node.doc.genesis:
        raise ApiError(409, "genesis_mismatch", "this node's document started from another initial text")


@internal.get("/log", response_model=LogPage)
async def log_page(
    node: Node,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> LogPage:
    """The records this node accepted from its own clients (what it received from
    peers, those peers serve themselves)."""
    rows, covered = await node.store.log_page(after, limit, node.node_id)
    records = [
        LogRecord(seq=r["seq"], kind=r["kind"], record_id=r["record_id"], origin=r["origin"],
                  update=encode(r["update"]), generation=r["generation"])
        for r in rows
    ]
    return LogPage(
        node_id=node.node_id, epoch=node.epoch, genesis=node.doc.genesis, records=records,
        last_seq=covered,
    )


# Beyond this many changes waiting for the writer, a push is answered after its
# commit again: a pusher faster than this node's commits then waits for them
# (backpressure) instead of growing the queue without bound.
BACKLOG_BEFORE_WAITING = 64


@internal.post("/records")
async def receive_push(node: Node, push: Push) -> dict:
    """Answered once queued, not committed: the pusher's next push (a keystroke, say)
    does not wait for this node's commit. The records were committed where they were
    written, and what fails here after the answer the next pull brings again. With a
    backlog of BACKLOG_BEFORE_WAITING changes, answered after the commit."""
    same_genesis(node, push.genesis)
    if not push.records:
        return {"queued": 0}
    outcome = node.enqueue(RemoteWork(
        peer=push.node_id, epoch=push.epoch, records=push.records,
        after_seq=push.after_seq, last_seq=push.records[-1].seq,
    ))
    if node.queue.qsize() > BACKLOG_BEFORE_WAITING:
        await outcome
    else:
        outcome.add_done_callback(_log_failure)
    return {"queued": len(push.records)}


def _log_failure(outcome: asyncio.Future) -> None:
    if not outcome.cancelled() and (error := outcome.exception()) is not None:
        log.warning("pushed records not applied; the next pull brings them again", error=str(error))


# reads that take a body (the caller's state vector): peers send them every
# --sync-interval, so they are logged as routine reads (at debug), not as writes
READS_BY_POST = frozenset({"/internal/sync", "/internal/diff"})


@internal.post("/sync", response_model=SyncResponse)
async def sync(node: Node, request: SyncRequest) -> SyncResponse:
    same_genesis(node, request.genesis)
    doc = node.doc
    same = request.generation == doc.generation.number
    return SyncResponse(
        node_id=node.node_id, epoch=node.epoch, state_vector=encode(doc.state_vector()),
        you_lack_edits=doc.edits_missing_from(decode(request.state_vector)) if same else 0,
        generation=doc.generation.number, frozen=node.frozen,
        next_digest=node.next_generation().digest if node.frozen else None,
        generation_digests=node.generation_digests,
    )


@internal.post("/diff", response_model=DiffResponse)
async def diff(node: Node, request: SyncRequest) -> DiffResponse:
    """Everything the caller lacks, as one CRDT update computed from its state vector."""
    same_genesis(node, request.genesis)
    doc, state_vector = node.doc, decode(request.state_vector)
    if request.generation > doc.generation.number:
        raise ApiError(409, "generation_mismatch", f"this node's document is in generation {doc.generation.number}")
    if request.generation < doc.generation.number:  # the caller catches up through the generations
        update = await node.past_generation_diff(request.generation, state_vector)
        if update is None:
            raise ApiError(409, "generation_unknown", f"this node never held generation {request.generation}")
    else:
        update = doc.doc.get_update(state_vector)
    return DiffResponse(node_id=node.node_id, generation=request.generation, update=encode(update))
