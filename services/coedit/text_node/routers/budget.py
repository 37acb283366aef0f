"""The token budget: reservations before model calls, settles after, the old spend
route, and the node-to-node routes of the escrow (token required)."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from coedit.common.auth import Writer, require_token
from coedit.common.errors import ApiError, error_responses
from coedit.text_node.budget_service import BudgetService
from coedit.text_node.deps import get_budget
from coedit.text_node.routers.replication import same_genesis
from coedit.text_node.models import (
    Budget,
    ForwardedSettle,
    ReservationGranted,
    ReserveRequest,
    SettleRequest,
    Settlement,
    SpendRequest,
    TransferRequest,
    TransferResponse,
)

router = APIRouter(prefix="/api/budget", tags=["budget"], responses=error_responses(503))
internal = APIRouter(prefix="/internal/budget", tags=["internal"], dependencies=[Depends(require_token)],
                     responses=error_responses(401, 409, 413, 503))
Service = Annotated[BudgetService, Depends(get_budget)]


@router.get("", response_model=Budget)
async def budget(service: Service) -> Budget:
    return service.budget()


@router.post("/reserve", response_model=ReservationGranted, responses=error_responses(401, 403, 413, 429))
async def reserve(service: Service, request: ReserveRequest, caller: Writer) -> ReservationGranted:
    """Hold an upper bound of a model call's tokens (idempotent on `reservation_id`).
    429 `budget_exhausted` when the budget cannot cover it; 503 `budget_unavailable`
    when it could but the rights sit on a node that does not answer (retry)."""
    caller.may_write_as(request.agent_id)
    if caller.agent is not None and any(r.agent_id != caller.agent
                                        for r in service.ledger.owned(request.reservation_id)):
        raise ApiError(403, "agent_mismatch", "this reservation_id is another agent's")
    return await service.reserve(request)


@router.post("/settle", response_model=Settlement,
             responses={202: {"model": Settlement, "description": "recorded for the reservation's node"},
                        **error_responses(401, 403, 404, 413)})
async def settle(service: Service, request: SettleRequest, caller: Writer):
    """Record what the call used; the rest of the reservation is released
    (idempotent on `reservation_id`: a repeat answers as the first time). With an
    agent's token, only that agent's reservation (checked by the node that holds it:
    503 `budget_unavailable` when none that does answers)."""
    status, settlement = await service.settle(request, settler=caller.agent)
    return JSONResponse(settlement.model_dump(), status_code=status)


@router.post("/spend", response_model=Budget, responses=error_responses(401, 403, 413, 429))
async def spend(service: Service, request: SpendRequest, caller: Writer) -> Budget:
    """Record tokens spent without a reservation (idempotent on `spend_id`); only
    what the budget covers: 429 `budget_exhausted`, nothing recorded, otherwise."""
    caller.may_write_as(request.agent_id)
    return await service.spend(request)


@internal.post("/transfer", response_model=TransferResponse, responses=error_responses(429))
async def transfer(service: Service, request: TransferRequest) -> TransferResponse:
    same_genesis(service.node, request.genesis)
    return await service.give(request)


@internal.post("/settle", response_model=Settlement, responses=error_responses(403, 404))
async def settle_forwarded(service: Service, request: ForwardedSettle):
    status, settlement = await service.settle(request, settler=request.settler, forwarded=True)
    return JSONResponse(settlement.model_dump(), status_code=status)
