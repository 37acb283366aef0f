from typing import Annotated

from fastapi import APIRouter, Depends

from coedit.common.auth import require_token
from coedit.text_node.deps import get_node
from coedit.text_node.models import Budget, SpendRequest
from coedit.text_node.node import SpendWork, TextNode

router = APIRouter(prefix="/api/budget", tags=["budget"])
Node = Annotated[TextNode, Depends(get_node)]


@router.get("", response_model=Budget)
async def budget(node: Node) -> Budget:
    return node.budget()


@router.post("/spend", response_model=Budget, dependencies=[Depends(require_token)])
async def spend(node: Node, request: SpendRequest) -> Budget:
    """Record tokens spent (idempotent on `spend_id`); 429 once the budget is spent."""
    return await node.submit(SpendWork(request))
