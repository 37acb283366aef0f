"""In-process peers for the agent's unit tests: one small ASGI app that speaks the
text node's, the chat's and analytics' HTTP contracts from memory, and a model
that answers from a script (else like `coedit fake-llm`). No sockets, no sleeps."""

import itertools
import json
import random
from collections import defaultdict

import httpx
import pytest
from coedit.agent.agent import Agent
from coedit.agent.context import apply
from coedit.agent.settings import AgentSettings
from coedit.analytics.models import EventsBody
from coedit.chat.models import parse_message
from coedit.common.agent_protocol import find_phase
from coedit.common.passages import find_all
from coedit.fake_llm.responder import answer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from openai import AsyncOpenAI
from pydantic import TypeAdapter

EVENTS = TypeAdapter(EventsBody)
TEXT = ("The robots lived in a quiet city. They read stories to children at night. "
        "Nobody knew what it meant to be good. The stars were bright.")


class Peers:
    """The session's state, as the three services would hold it."""

    def __init__(self, text: str = TEXT, budget: int = 100_000):
        self.text, self.budget, self.spends = text, budget, {}
        self.reservations: dict[str, int] = {}  # held, not yet settled
        self.settles: dict[str, int] = {}  # reservation_id -> tokens settled
        self.exhausted = False  # a reserve was refused (the node records it)
        self.reserves_unavailable = 0  # the next reserves answering 503 budget_unavailable
        self.edits: dict[str, dict] = {}
        self.messages: list[dict] = []
        self.events: dict[str, dict] = {}
        self.down: set[str] = set()  # paths answering 503
        self.before_edit = None  # a hook: change the text just before an edit lands
        self.paused = False  # people paused the session (the chat's /api/session)
        self._ids = itertools.count(1)

    @property
    def spent(self) -> int:
        return sum(self.spends.values())

    @property
    def reserved(self) -> int:
        return sum(self.reservations.values())

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def outage(request: Request, call_next):
            if request.url.path in self.down:
                return JSONResponse({"error": "unavailable"}, 503)
            return await call_next(request)

        @app.get("/readyz")
        async def readyz():
            return {"ready": True}

        @app.get("/api/document")
        async def document():
            return {"text": self.text, "version": len(self.edits), "node_id": "a"}

        @app.get("/api/budget")
        async def budget():
            return {"limit": self.budget, "spent": self.spent, "reserved": self.reserved,
                    "remaining": max(self.budget - self.spent - self.reserved, 0),
                    "exhausted": self.exhausted or self.spent >= self.budget}

        @app.post("/api/budget/reserve")
        async def reserve(body: dict):
            # As the text node: idempotent on reservation_id; spent + reserved never pass the limit.
            rid, tokens = body["reservation_id"], body["tokens"]
            if self.reserves_unavailable:
                self.reserves_unavailable -= 1
                return JSONResponse({"error": "budget_unavailable"}, 503)
            if rid not in self.reservations and rid not in self.settles:
                if self.spent + self.reserved + tokens > self.budget:
                    self.exhausted = True
                    return JSONResponse({"error": "budget_exhausted"}, 429)
                self.reservations[rid] = tokens
            return {"reservation_id": rid, "granted": True, "tokens": tokens,
                    "expires_at": "2100-01-01T00:00:00Z", "node_id": "a"}

        @app.post("/api/budget/settle")
        async def settle(body: dict):
            rid = body["reservation_id"]
            if rid in self.reservations:
                released = self.reservations.pop(rid) - body["tokens"]
                self.settles[rid] = self.spends[rid] = body["tokens"]
                return {"reservation_id": rid, "state": "settled", "tokens": body["tokens"],
                        "released": max(released, 0), "unrecorded": 0}
            if rid in self.settles:
                return {"reservation_id": rid, "state": "settled", "tokens": self.settles[rid]}
            return JSONResponse({"error": "reservation_not_found"}, 404)

        @app.post("/api/edits", status_code=201)
        async def edit(body: dict):
            if body["edit_id"] in self.edits:
                return self.edits[body["edit_id"]]
            if self.exhausted or self.spent >= self.budget:
                return JSONResponse({"error": "budget_exhausted"}, 429)
            if self.before_edit:
                self.before_edit(self)
            op = body["op"]
            starts = find_all(self.text, op["anchor"]) if op["type"] != "append" else [len(self.text)]
            if not starts:
                return JSONResponse({"error": "anchor_not_found"}, 409)
            if len(starts) > 1 and not op.get("occurrence"):
                return JSONResponse({"error": "anchor_ambiguous"}, 409)
            start = starts[(op.get("occurrence") or 1) - 1]
            if op["type"] == "append":
                self.text += op["text"]
            else:
                self.text = apply(self.text, op["type"], (start, start + len(op["anchor"])), op["text"])
            self.edits[body["edit_id"]] = {"edit_id": body["edit_id"], "version": len(self.edits) + 1, "node_id": "a"}
            return self.edits[body["edit_id"]]

        @app.get("/api/edits/{edit_id:path}")
        async def find_edit(edit_id: str):
            found = self.edits.get(edit_id)
            return found if found else JSONResponse({"error": "edit_not_found"}, 404)

        @app.post("/api/messages", status_code=201)
        async def post_message(body: dict):
            message = parse_message(body).model_dump(mode="json")
            message["id"] = f"{next(self._ids)}-0"
            self.messages.append(message)
            return message

        @app.get("/api/session")
        async def session():
            return {"paused": self.paused, "changed_at": None, "changed_by": None}

        @app.get("/api/messages/people")
        async def people_messages(limit: int = 5):
            return {"messages": self.of_type("person_message")[-limit:]}

        @app.get("/api/intents/open")
        async def open_intents():
            closed = {m["intent_id"] for m in self.messages
                      if m["type"] == "intent_status" and m["status"] in ("applied", "cancelled")}
            return {"intents": [{**m, "expires_at": "2100-01-01T00:00:00Z"} for m in self.messages
                                if m["type"] == "edit_intent" and m["intent_id"] not in closed]}

        @app.post("/api/events")
        async def post_events(request: Request):
            parsed = EVENTS.validate_json(await request.body())
            for event in parsed if isinstance(parsed, list) else [parsed]:
                self.events.setdefault(event.event_id, event.model_dump(mode="json"))
            return {"accepted": 1, "duplicates": 0}

        return app

    def of_type(self, kind: str) -> list[dict]:
        return [m for m in self.messages if m["type"] == kind]

    def events_of(self, kind: str) -> list[dict]:
        return [e for e in self.events.values() if e["type"] == kind]


class ScriptedModel:
    """An OpenAI-compatible app: per phase, the next scripted answer (a string, an
    int for an HTTP error status, or (status, headers)), then the fake model's own
    answers. `requests` keeps every request body; `usage(messages)` is the prompt
    tokens it reports (else 100)."""

    def __init__(self, **script):
        self.usage = lambda messages: 100
        self.script = defaultdict(list, {k: list(v) for k, v in script.items()})
        self.calls: list[str] = []
        self.prompts: list[list[dict]] = []
        self.requests: list[dict] = []

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def complete(body: dict):
            messages = body["messages"]
            phase = find_phase(messages[0]["content"])
            name = phase.value if phase else "none"
            self.calls.append(name)
            self.prompts.append(messages)
            self.requests.append(body)
            planned = self.script[name].pop(0) if self.script[name] else None
            if isinstance(planned, int):
                planned = (planned, {})
            if isinstance(planned, tuple):
                status, headers = planned
                return JSONResponse({"error": {"message": "scripted", "type": "x", "code": None}},
                                    status, headers)
            content = planned if planned is not None else answer(messages, random.Random(len(self.calls)))
            return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": (prompt := self.usage(messages)), "completion_tokens": 10,
                              "total_tokens": prompt + 10}}

        return app


class Router(httpx.AsyncBaseTransport):
    """Routes by host to in-process apps; hosts in `dead` refuse connections; a host
    in `lose_answers` handles the next request(s), then the answer is lost (a read
    timeout, as when a node dies after receiving a request)."""

    def __init__(self, apps: dict[str, FastAPI]):
        self.apps = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}
        self.dead: set[str] = set()
        self.lose_answers: dict[str, int] = defaultdict(int)
        self.hosts: list[str] = []  # every request's host, in order

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.hosts.append(host)
        if host in self.dead or host not in self.apps:
            raise httpx.ConnectError("connection refused", request=request)
        response = await self.apps[host].handle_async_request(request)
        if self.lose_answers[host]:
            self.lose_answers[host] -= 1
            raise httpx.ReadTimeout("no answer", request=request)
        return response


class Sleeps(list):
    """Stands in for asyncio.sleep: records the waits, waits for nothing."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def peers() -> Peers:
    return Peers()


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def make_agent(peers, model, sleeps):
    """Build an agent wired to the in-process peers (text nodes `a`, `b`, ...)."""
    clients = []

    def make(nodes=("a",), model_app: FastAPI | None = None, **settings) -> tuple[Agent, Router]:
        router = Router({**{n: peers.app() for n in nodes}, "chat": peers.app(),
                         "analytics": peers.app(), "model": model_app or model.app()})
        http = httpx.AsyncClient(transport=router)
        llm = AsyncOpenAI(base_url="http://model/v1", api_key="k", max_retries=0,
                          http_client=httpx.AsyncClient(transport=router))
        clients.extend([http, llm])
        config = AgentSettings(
            _cli_parse_args=False, agent_id="a1", language="en",
            text_nodes=",".join(f"http://{n}" for n in nodes),
            chat_url="http://chat", analytics_url="http://analytics", model="m", **settings,
        )
        return Agent(config, http, llm, sleep=sleeps), router

    yield make
    for client in clients:
        await (client.aclose() if isinstance(client, httpx.AsyncClient) else client.close())


def reply(**fields) -> str:
    return json.dumps(fields)
