"""FastAPI dependencies: the node, its replicator and its budget live on the app's state."""

from fastapi import Request

from coedit.text_node.budget_service import BudgetService
from coedit.text_node.node import TextNode
from coedit.text_node.replication import Replicator


async def get_node(request: Request) -> TextNode:
    return request.app.state.node


async def get_replicator(request: Request) -> Replicator:
    return request.app.state.replicator


async def get_budget(request: Request) -> BudgetService:
    return request.app.state.budget
