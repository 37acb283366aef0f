from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from coedit.common.auth import Writer
from coedit.common.errors import ApiError, error_responses
from coedit.common.write_rate import WriteRate
from coedit.text_node.budget_service import BudgetService
from coedit.text_node.deps import get_budget, get_node
from coedit.text_node.models import IDENTIFIER, EditAccepted, EditLog, EditRecord, EditRequest
from coedit.text_node.node import EditWork, TextNode

router = APIRouter(prefix="/api/edits", tags=["edits"], responses=error_responses(503))
Node = Annotated[TextNode, Depends(get_node)]


@router.get("", response_model=EditLog)
async def list_edits(
    node: Node,
    after_version: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EditLog:
    """The seed's catch-up API: this node's edits after a version, in version order."""
    rows = await node.store.edits_after(after_version, limit)
    return EditLog(
        edits=[EditRecord(version=r["version"], edit_id=r["edit_id"], **r["metadata"]) for r in rows]
    )


@router.get("/{edit_id:path}", response_model=EditAccepted, responses=error_responses(404))
async def find_edit(node: Node, edit_id: Annotated[str, Path(**IDENTIFIER)]) -> EditAccepted:
    """Whether this node holds the edit `edit_id`, answered as its POST was (once any
    commit it is part of is done): for a writer that lost the answer to its POST and
    must not send the edit anywhere else before it knows."""
    if (accepted := await node.lookup(edit_id)) is None:
        raise ApiError(404, "edit_not_found", f"this node holds no edit {edit_id!r} (yet: a peer's edits "
                       "arrive as they replicate)")
    return accepted


@router.post("", status_code=201, response_model=EditAccepted,
             responses=error_responses(401, 403, 409, 413, 429))
async def submit_edit(
    node: Node, budget: Annotated[BudgetService, Depends(get_budget)], edit: EditRequest,
    caller: Writer, rate: WriteRate,
) -> EditAccepted:
    """Apply an anchored edit. Answered only once the edit is committed; a repeated
    `edit_id` is applied once and answered as the first time. Its `tokens`, if any,
    are charged with it, only if the budget covers them (429 otherwise). An agent's
    own token writes only as that agent (403); each agent_id has its write rate (429)."""
    caller.may_write_as(edit.agent_id)
    with node.arriving(edit.edit_id):
        await rate.hit(edit.agent_id)
        if edit.tokens:
            await budget.ensure(edit.tokens)
        return await node.submit(EditWork(edit))
