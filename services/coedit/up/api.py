"""The runner's own small HTTP API, for the web UI's `--agents-status-url`: each
agent's process state as `coedit up` sees it (running, finished, restarting,
stopped), which chat and analytics cannot tell."""

import contextlib

import uvicorn
from fastapi import FastAPI


def agent_status(children) -> dict:
    agents = []
    for child in children:
        if child.component.kind != "agent":
            continue
        alive = child.process is not None and child.process.returncode is None
        if alive:
            state, detail = "running", f"pid {child.process.pid}"
        elif child.done:
            state, detail = "finished", "exited 0 (budget spent or done)"
        elif child.exit_code is not None and not child.supervisor.stopping.is_set():
            state, detail = "restarting", f"exited {child.exit_code}, {child.restarts} restarts"
        else:
            state, detail = "stopped", "not running"
        agents.append({"agent_id": child.name, "state": state, "detail": detail})
    return {"agents": agents}


def create_app(supervisor) -> FastAPI:
    app = FastAPI(title="coedit up", docs_url=None, redoc_url=None)

    @app.get("/api/agents")
    async def agents() -> dict:
        """Each agent's state, and the stop condition the session met (null: none yet)."""
        done = supervisor.completion
        completion = None if done is None else {"reason": done.reason, "message": done.message}
        return {**agent_status(supervisor.children), "completion": completion}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "service": "up"}

    return app


class Server(uvicorn.Server):
    """uvicorn inside `coedit up`'s loop: the supervisor owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def server(supervisor, port: int) -> Server:
    config = uvicorn.Config(create_app(supervisor), host="127.0.0.1", port=port,
                            log_config=None, access_log=False, lifespan="off")
    return Server(config)
