"""The web server's live view of the session, kept by background tasks and pushed
to browsers through the hub:

- the text nodes are checked every `--poll-interval` (version, replication lag,
  budget), and the edit log of the first node that is up is followed with
  `after_version`, replaying each edit into the authorship view;
- the chat's SSE stream is relayed (one upstream connection for all browsers),
  resuming after the last id it saw when the chat comes back;
- analytics figures are refreshed every `--analytics-interval`.

Pages render from this state, so a page load makes few or no upstream calls."""

import asyncio
import json
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from coedit.web import views
from coedit.web.authorship import UNKNOWN, Authorship
from coedit.web.hub import Event, Hub
from coedit.web.settings import WebSettings
from coedit.chat.models import SessionState
from coedit.common.client import ServiceError, Unavailable
from coedit.text_node.client import MAX_EDIT_PAGE
from coedit.text_node.models import text_digest
from coedit.web.upstream import Upstream

log = structlog.get_logger(__name__)

RECENT_MESSAGES = 200
TEXT_CACHE = 64  # past versions' texts kept for the slider and diffs
ACTIVE_SECONDS = 60  # an agent seen within this is "active", else "idle"


@dataclass
class NodeState:
    url: str
    node_id: str | None = None
    up: bool | None = None  # None: not checked yet
    version: int | None = None
    text_digest: str | None = None
    lag_seconds: float | None = None
    error: str | None = None


@dataclass
class ServiceState:
    configured: bool
    up: bool | None = None
    error: str | None = None


@dataclass
class Agent:
    agent_id: str
    state: str
    last_action: str | None = None
    last_type: str | None = None
    last_seen: datetime | None = None
    edits: int | None = None
    tokens: int | None = None
    cost_usd: float | None = None


def stream_id_key(message_id: str) -> tuple[int, int]:
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)


def describe(message: dict) -> str:
    """One line saying what a chat message did."""
    match message.get("type"):
        case "edit_intent":
            return f"intent: {message.get('summary', '')}"
        case "edit_comment":
            return f"comment: {message.get('text', '')}"
        case "edit_operation":
            return f"{message.get('op')} -> version {message.get('version')}"
        case "intent_status":
            return f"intent {message.get('intent_id')} {message.get('status')}"
    return str(message.get("type"))


def _parse_ts(value) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass
class Monitor:
    settings: WebSettings
    upstream: Upstream
    hub: Hub
    nodes: list[NodeState] = field(init=False)
    chat: ServiceState = field(init=False)
    analytics: ServiceState = field(init=False)
    budget: dict | None = None
    paused: bool = False  # people paused the session (the chat says)
    summary: dict | None = None  # analytics, last hour
    agent_figures: list[dict] = field(default_factory=list)  # analytics, last 24 h
    agent_status: dict[str, dict] = field(default_factory=dict)  # from --agents-status-url
    completion: dict | None = None  # the stop condition the runner says the session met (--agents-status-url)
    told_completion: dict | None = None  # the same, as the runner told the chat (`up`, the operator)
    edits: list[dict] = field(default_factory=list)  # edits[v - 1] made version v
    followed: str | None = None
    authorship: Authorship | None = None
    messages: deque = field(default_factory=lambda: deque(maxlen=RECENT_MESSAGES))
    last_message: dict[str, dict] = field(default_factory=dict)  # per agent
    started: asyncio.Event = field(default_factory=asyncio.Event)
    _texts: OrderedDict = field(default_factory=OrderedDict)  # version -> text, LRU
    _last_status: str = ""
    _published: tuple[int, str] | None = None  # the version and text digest last published
    _digest: tuple[str, str] | None = None  # (text, its digest) of the replay, computed once per text
    _last_analytics: str = ""

    def __post_init__(self) -> None:
        self.nodes = [NodeState(url) for url in self.settings.text_node_urls]
        self.chat = ServiceState(self.settings.chat_url is not None)
        self.analytics = ServiceState(self.settings.analytics_url is not None)

    # --- derived state -------------------------------------------------------

    @property
    def version(self) -> int:
        return self.authorship.version if self.authorship else 0

    @property
    def max_version(self) -> int:
        return max((n.version or 0 for n in self.nodes if n.up), default=self.version)

    def node_lag(self, node: NodeState) -> int | None:
        """Edits this node lacks compared with the most advanced node that is up."""
        return None if not node.up or node.version is None else self.max_version - node.version

    @property
    def degraded(self) -> list[str]:
        """What is down, in words; empty when all is well."""
        problems = [f"text node {n.node_id or n.url} down" for n in self.nodes if n.up is False]
        for name, state in (("chat", self.chat), ("analytics", self.analytics)):
            if state.configured and state.up is False:
                problems.append(f"{name} down")
        return problems

    @property
    def phase(self) -> str:
        if not any(n.up for n in self.nodes):
            return "starting" if any(n.up is None for n in self.nodes) or not self.nodes else "down"
        if self.completion_message:
            return "completed"
        if self.paused:
            return "paused"
        return "degraded" if self.degraded else "running"

    @property
    def completion_message(self) -> str | None:
        """Why the session is over, if it is: the runner's stop condition, or the budget."""
        if completion := self.completion or self.told_completion:
            return completion.get("message") or completion.get("reason")
        if self.budget and self.budget.get("exhausted"):
            return "the token budget is spent"
        return None

    def agents(self, now: datetime | None = None) -> list[Agent]:
        """Every agent seen in chat, analytics or the runner's status, with a state:
        the runner's when it says the process is not running (`finished`,
        `restarting`, `stopped`, ...); else `stopped` once the budget is spent, else
        `writing` with an open intent, `active` if seen within a minute, `idle`."""
        now = now or datetime.now(UTC)
        figures = {f["agent_id"]: f for f in self.agent_figures}
        names = sorted(set(figures) | set(self.last_message) | set(self.agent_status))
        agents = []
        for name in names:
            message = self.last_message.get(name)
            seen = [t for t in (_parse_ts(message and message.get("ts")),
                                _parse_ts(figures.get(name, {}).get("last_seen"))) if t]
            last_seen = max(seen) if seen else None
            runner_state = self.agent_status.get(name, {}).get("state")
            if runner_state and runner_state != "running":
                state = runner_state
            elif self.budget and self.budget.get("exhausted"):
                state = "stopped"
            elif last_seen and (now - last_seen).total_seconds() < ACTIVE_SECONDS:
                open_intent = message and (message["type"] == "edit_intent" or (
                    message["type"] == "intent_status" and message.get("status") == "confirmed"))
                state = "writing" if open_intent else "active"
            else:
                state = "idle"
            detail = self.agent_status.get(name, {}).get("detail")
            agents.append(Agent(
                agent_id=name, state=state,
                last_action=describe(message) if message else detail,
                last_type=message and message["type"], last_seen=last_seen,
                edits=figures.get(name, {}).get("edits_applied"),
                tokens=figures.get(name, {}).get("tokens"),
                cost_usd=figures.get(name, {}).get("cost_usd"),
            ))
        return agents

    def edit(self, version: int) -> dict | None:
        return self.edits[version - 1] if 0 < version <= len(self.edits) else None

    def edits_between(self, low: int, high: int, limit: int) -> list[dict]:
        """The edits that made versions low+1 .. high, oldest first, at most `limit`."""
        return self.edits[max(low, 0) : min(high, len(self.edits))][:limit]

    def edits_page(self, before: int | None = None, size: int = 50) -> list[dict]:
        """A page of the edit log, newest first: the `size` versions below `before`."""
        end = len(self.edits) if before is None else min(before - 1, len(self.edits))
        return self.edits[max(end - size, 0) : max(end, 0)][::-1]

    async def version_text(self, version: int) -> str:
        """The text of `version`, from the followed node first, then the others
        (a node that is behind answers 404 for versions it lacks)."""
        if self.authorship and version == self.authorship.version:
            return self.authorship.text
        if version in self._texts:
            self._texts.move_to_end(version)
            return self._texts[version]
        nodes = sorted((n for n in self.nodes if n.up is not False), key=lambda n: n.url != self.followed)
        error: ServiceError = Unavailable("no text node is up")
        for node in nodes:
            try:
                text = (await self.upstream.nodes[node.url].version_text(version)).text
            except ServiceError as failure:
                error = failure
                continue
            if version < self.version:  # the latest version's text still changes while a person types on
                self._texts[version] = text
                while len(self._texts) > TEXT_CACHE:
                    self._texts.popitem(last=False)
            return text
        raise error

    # --- publishing ----------------------------------------------------------

    def status_event(self) -> Event:
        payload = {"phase": self.phase, "degraded": self.degraded, "version": self.version,
                   "paused": self.paused, "html": views.status_fragments(self)}
        return Event("status", "status", json.dumps(payload, ensure_ascii=False))

    def document_event(self) -> Event:
        payload = {"version": self.version, "html": views.document_fragments(self)}
        return Event("document", "version", json.dumps(payload, ensure_ascii=False))

    def analytics_event(self) -> Event:
        payload = {"up": self.analytics.up, "html": views.analytics_fragments(self)}
        return Event("analytics", "analytics", json.dumps(payload, ensure_ascii=False))

    def chat_event(self, message: dict) -> Event:
        payload = {"agent_id": message["agent_id"], "type": message["type"],
                   "html": views.chat_message(message)}
        return Event("chat", "chat", json.dumps(payload, ensure_ascii=False), id=message["id"])

    def publish_status(self) -> None:
        event = self.status_event()
        if event.data != self._last_status:
            self._last_status = event.data
            self.hub.publish(event)

    def messages_after(self, last_id: str) -> list[dict] | None:
        """Recent messages after `last_id`, or None if it is older than what is kept."""
        key = stream_id_key(last_id)
        if self.messages and stream_id_key(self.messages[0]["id"]) > key:
            return None
        return [m for m in self.messages if stream_id_key(m["id"]) > key]

    # --- background tasks ----------------------------------------------------

    async def run(self) -> None:
        tasks = [self._watch_nodes()]
        if self.chat.configured:
            tasks.append(self._relay_chat())
        if self.analytics.configured or self.settings.agents_status_url:
            tasks.append(self._refresh_analytics())
        await asyncio.gather(*tasks)

    async def _watch_nodes(self) -> None:
        while True:
            try:
                await asyncio.gather(self.check_nodes(), self.check_session())
                await self.follow()
            except ServiceError as error:  # a node went away mid-read: next round
                log.warning("reading the document failed", error=str(error))
            except Exception:  # a bug here must not stop the live view
                log.exception("node watch failed")
            if self.authorship and (self.version, self.text_digest()) != self._published:
                self._published = (self.version, self.text_digest())
                self.hub.publish(self.document_event())
            self.publish_status()
            self.started.set()
            await asyncio.sleep(self.settings.poll_interval)

    async def check_nodes(self) -> None:
        budgets = await asyncio.gather(*(self._check(node) for node in self.nodes))
        budgets = [b for b in budgets if b]
        if budgets:
            self.budget = max(budgets, key=lambda b: b["spent"])

    async def check_session(self) -> None:
        """Whether people paused the session, and whether its runner said it is over (a
        chat that is down leaves both as they were)."""
        if self.upstream.chat is not None:
            try:
                self.session_state(await self.upstream.chat.session())
            except ServiceError:
                pass

    def session_state(self, state: SessionState) -> None:
        self.paused = state.paused
        if state.completion is not None:
            self.told_completion = state.completion.model_dump()

    async def _check(self, node: NodeState) -> dict | None:
        client = self.upstream.nodes[node.url]
        try:
            replication, budget = await asyncio.gather(client.replication(), client.budget())
        except ServiceError as error:
            if node.up is not False:
                log.warning("text node unavailable", url=node.url, error=str(error))
            node.up, node.error = False, str(error)
            return None
        node.up, node.error = True, None
        node.node_id, node.version, node.text_digest = replication.node_id, replication.version, replication.text_digest
        node.lag_seconds = max((p.lag_seconds for p in replication.peers), default=0.0)
        return budget.model_dump()

    async def follow(self) -> None:
        """Read new edits from the first node that is up and replay them. Once
        caught up, the replay is checked against the node's text (and corrected,
        attributing the difference to no one)."""
        source = next((n for n in self.nodes if n.up), None)
        if source is None:
            return
        if source.url != self.followed:
            log.info("following text node", url=source.url, node_id=source.node_id)
            self.followed = source.url
        client = self.upstream.nodes[source.url]
        if self.authorship is None:
            self.authorship = Authorship((await client.version_text(0)).text)
        before = self.version
        while True:
            page = (await client.edits(after_version=self.version, limit=MAX_EDIT_PAGE)).edits
            for edit in page:
                await self._replay(source.url, edit.model_dump(mode="json"))
            if len(page) < MAX_EDIT_PAGE:
                break
        # no new version: the text changes only if a person typed on in theirs (the digest says)
        typed_on = self.version == before
        if typed_on and (source.version != self.version or source.text_digest in (None, self.text_digest())):
            return
        document = await client.document()
        if document.version == self.version and document.text != self.authorship.text:
            last = self.edits[-1] if self.edits else {}
            person = typed_on and last.get("kind") == "human"
            if not person:
                log.info("replay differs from the node's text; corrected", version=self.version)
            self.authorship.correct(self.version, last["agent_id"] if person else UNKNOWN, document.text)

    def text_digest(self) -> str:
        """The replayed text's digest (as the nodes report theirs)."""
        text = self.authorship.text if self.authorship else ""
        if self._digest is None or self._digest[0] is not text:
            self._digest = (text, text_digest(text))
        return self._digest[1]

    async def _replay(self, url: str, edit: dict) -> None:
        version = edit["version"]
        if version != self.version + 1:
            return  # already have it (or a gap; the next page fills it)
        self.edits.append({k: edit.get(k) for k in (
            "version", "edit_id", "kind", "agent_id", "op", "intent_id", "summary", "node_id", "created_at")})
        # a person's version carries no operation: its text says what they changed
        if edit.get("op") is None or not self.authorship.apply(version, edit["agent_id"], edit["op"]):
            actual = await self.upstream.nodes[url].version_text(version)
            self.authorship.correct(version, edit["agent_id"], actual.text)

    async def _relay_chat(self) -> None:
        async for attempt in AsyncRetrying(
            wait=wait_exponential_jitter(initial=0.2, max=2),
            retry=retry_if_exception_type((ServiceError, ValueError)),
            before_sleep=self._chat_down,
        ):
            with attempt:
                await self._follow_chat()

    def _chat_down(self, retry_state) -> None:
        error = retry_state.outcome.exception()
        if self.chat.up is not False:
            log.warning("chat unavailable", error=str(error))
        self.chat.up, self.chat.error = False, f"{type(error).__name__}: {error}"
        self.publish_status()

    async def _follow_chat(self) -> None:
        chat = self.upstream.chat
        if not self.messages:
            for message in await chat.messages(limit=RECENT_MESSAGES):
                self._remember(message.model_dump(mode="json", exclude_none=True))
        after = self.messages[-1]["id"] if self.messages else "0"
        async with chat.stream(after, connect_timeout=self.settings.upstream_timeout) as messages:
            self.chat.up, self.chat.error = True, None
            self.publish_status()
            async for message in messages:
                message = message.model_dump(mode="json", exclude_none=True)
                self._remember(message)
                self.hub.publish(self.chat_event(message))
                self.publish_status()

    def _remember(self, message: dict) -> None:
        if self.messages and stream_id_key(message["id"]) <= stream_id_key(self.messages[-1]["id"]):
            return
        self.messages.append(message)
        self.last_message[message["agent_id"]] = message

    async def _refresh_analytics(self) -> None:
        while True:
            await asyncio.gather(self._fetch_analytics(), self._fetch_agent_status())
            event = self.analytics_event()
            if event.data != self._last_analytics:
                self._last_analytics = event.data
                self.hub.publish(event)
            self.publish_status()
            await asyncio.sleep(self.settings.analytics_interval)

    async def _fetch_analytics(self) -> None:
        if not self.analytics.configured:
            return
        analytics = self.upstream.analytics
        try:
            summary, agents = await asyncio.gather(analytics.summary("1h"), analytics.agents("24h"))
        except ServiceError as error:
            self.analytics.up, self.analytics.error = False, str(error)
            return
        self.summary = summary.model_dump(mode="json")
        self.agent_figures = agents.model_dump(mode="json")["agents"]
        self.analytics.up, self.analytics.error = True, None

    async def _fetch_agent_status(self) -> None:
        if not self.settings.agents_status_url:
            return
        try:
            answer = await self.upstream.agents_status()
        except ServiceError as error:
            log.warning("agent status unavailable", error=str(error))
            return
        self.agent_status = {a["agent_id"]: a for a in answer.get("agents", [])}
        self.completion = answer.get("completion")
