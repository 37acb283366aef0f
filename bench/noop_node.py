"""A text node's edit route with nothing behind it, a reference for bench.text_nodes:
the same service skeleton (middleware, telemetry, metrics, error handlers), the same
bearer-token check and request model, answering 201 at once. No document, no
database, no replication: its rate is what the HTTP stack alone allows.

    COEDIT_AUTH_TOKEN=TOKEN python bench/noop_node.py --port 8000"""

import itertools

from fastapi import APIRouter, Depends
from pydantic_settings import CliApp

from coedit.common.app import create_service_app, serve
from coedit.common.auth import require_token
from coedit.common.settings import ServiceSettings
from coedit.text_node.client import EDITS_PATH
from coedit.text_node.models import EditAccepted, EditRequest

router = APIRouter(prefix=EDITS_PATH)  # the route the text node client posts to
versions = itertools.count(1)


@router.post("", status_code=201, response_model=EditAccepted, dependencies=[Depends(require_token)])
async def submit_edit(edit: EditRequest) -> EditAccepted:
    return EditAccepted(edit_id=edit.edit_id, version=next(versions), node_id="noop")


if __name__ == "__main__":
    settings = CliApp.run(ServiceSettings)
    app = create_service_app("noop-node", settings)
    app.include_router(router)
    serve(app, settings)
