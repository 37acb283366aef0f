from typing import Annotated

from fastapi import Depends, Request

from coedit.web.hub import Hub
from coedit.web.live import Monitor


def get_monitor(request: Request) -> Monitor:
    return request.app.state.monitor


def get_hub(request: Request) -> Hub:
    return request.app.state.hub


MonitorDep = Annotated[Monitor, Depends(get_monitor)]
HubDep = Annotated[Hub, Depends(get_hub)]
