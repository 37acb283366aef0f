from typing import Annotated

from fastapi import APIRouter, Depends, Path

from coedit.common.errors import ApiError, error_responses
from coedit.text_node.deps import get_node
from coedit.text_node.models import Document, VersionText
from coedit.text_node.node import TextNode

router = APIRouter(prefix="/api/document", tags=["document"])
Node = Annotated[TextNode, Depends(get_node)]


@router.get("", response_model=Document)
async def current_document(node: Node) -> Document:
    committed = node.committed
    return Document(text=committed.text, version=committed.version, node_id=node.node_id)


@router.get("/versions/{version}", response_model=VersionText, responses=error_responses(404, 503))
async def version_text(node: Node, version: Annotated[int, Path(ge=0, le=2**31 - 1)]) -> VersionText:
    text = await node.text_at(version)
    if text is None:
        raise ApiError(404, "version_not_found", f"this node holds versions 0..{node.committed.version}")
    return VersionText(version=version, text=text)
