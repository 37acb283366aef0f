"""FastAPI dependencies: the node and its replicator live on the app's state."""

from fastapi import Request

from coedit.text_node.node import TextNode
from coedit.text_node.replication import Replicator


async def get_node(request: Request) -> TextNode:
    return request.app.state.node


async def get_replicator(request: Request) -> Replicator:
    return request.app.state.replicator
