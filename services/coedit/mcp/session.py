"""What an outside agent can do in the session, one method per tool, each for the
agent its token names. It talks to the session only through the services' typed
clients, and follows the built-in agents' protocol: announce an intent (a lease on
a place nobody else holds), confirm it, make one edit there, say so in the chat,
report to analytics. Anything a model can fix comes back as `Refusal` (a tool
error whose text says what to do next)."""

import asyncio
import re
import uuid
from contextlib import suppress
from datetime import UTC, datetime

import structlog
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from coedit.analytics import models as events
from coedit.analytics.client import AnalyticsClient
from coedit.chat.client import ChatClient
from coedit.chat.models import EditComment, EditIntent, EditOperation, IntentStatus, OpenIntent
from coedit.common.agent_protocol import sentences
from coedit.common.client import NotFound, ServiceError, Unavailable
from coedit.common.diff import diff_stats, word_diff
from coedit.common.passages import find_all, locate, overlaps, window_around
from coedit.common.write_rate import AgentWriteRate
from coedit.mcp import models, places
from coedit.mcp.settings import McpSettings
from coedit.text_node.client import BudgetExhausted, EditRefused, OutcomeUnknown, TextNodesClient
from coedit.text_node.models import EditAccepted, EditOp, EditRequest, SpendRequest

log = structlog.get_logger("coedit.mcp")

INTENT_ID = re.compile(r"^(?P<agent>.+):mcp-[0-9a-f]{8}:intent-[0-9a-f]{12}$")  # what new_id makes
EQUAL_KEPT = 120  # characters of unchanged text a diff keeps either side of a change
MAX_UNSURE_EDITS = 10_000  # edits of unknown outcome remembered, so a call again waits for their node


class Refusal(ToolError):
    """A write or read the session refuses; the message tells the model what to do."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class Session:
    def __init__(self, settings: McpSettings, text: TextNodesClient, chat: ChatClient,
                 analytics: AnalyticsClient):
        self.settings, self.text, self.chat, self.analytics = settings, text, chat, analytics
        self.run_id = uuid.uuid4().hex[:8]  # ids this process makes never repeat another's
        self._writes = AgentWriteRate(settings.writes_per_minute)
        self._send_lock, self._send_pending, self._sending = asyncio.Lock(), False, set()
        # edit id -> the node that got it and did not answer (oldest first, bounded)
        self._unsure: dict[str, str] = {}

    # --- bookkeeping ---

    def new_id(self, agent_id: str, kind: str) -> str:
        return f"{agent_id}:mcp-{self.run_id}:{kind}-{uuid.uuid4().hex[:12]}"

    def event(self, kind, agent_id: str, event_id: str | None = None, **fields) -> None:
        """An analytics event under the agent's name, sent at once in the background (in
        the tool call's trace); while analytics is down, events wait in the outbox."""
        self.analytics.record(kind(event_id=event_id or self.new_id(agent_id, "ev"), agent_id=agent_id,
                                   ts=datetime.now(UTC), **fields))
        if not self._send_pending:
            self._send_pending = True
            task = asyncio.create_task(self._send_events())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send_events(self) -> None:
        async with self._send_lock:  # one flush at a time: the outbox is sent in order, once
            self._send_pending = False
            while not await self.analytics.flush():
                await asyncio.sleep(2)

    async def close(self) -> None:
        """Stop retrying in the background; one last try for what is left."""
        for task in list(self._sending):
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)
        await self.analytics.flush()

    async def may_write(self, agent_id: str) -> None:
        """Refuse a write over the agent's rate, while the session is paused, or once
        the budget is spent."""
        await self._count_write(agent_id)
        await self._open_for_writes()

    async def _count_write(self, agent_id: str) -> None:
        if (wait := await self._writes.wait(agent_id)) is not None:
            raise Refusal("rate_limited", f"at most {self.settings.writes_per_minute} writes a minute "
                          f"per agent; try again in about {wait} s")

    async def _open_for_writes(self) -> None:
        state = await self._call(self.chat.session())
        if state.paused:
            by = f" ({state.changed_by})" if state.changed_by else ""
            raise Refusal("paused", f"people paused the session{by}: no writes until they resume it. "
                          "Wait a while and try again; reads still work.")
        if (await self._call(self.text.budget())).exhausted:
            raise Refusal("budget_exhausted", "the session's token budget is spent: no more writes "
                          "are accepted. Stop working on this session.")

    async def _call(self, awaitable):
        """A service call; an outage becomes a refusal the model can retry later."""
        try:
            return await awaitable
        except Unavailable as exc:
            log.warning("service_unavailable", error=str(exc))
            raise Refusal("unavailable", "a session service is not answering; try again in a few "
                          "seconds") from exc

    async def _open_intents(self) -> list[OpenIntent]:
        return await self._call(self.chat.open_intents())

    async def _post(self, message) -> None:
        await self._call(self.chat.post(message))

    # --- reads ---

    async def read_document(self, around: str | None, chars: int) -> models.DocumentView:
        document = await self._call(self.text.document())
        text = document.text
        if around is None:
            start = 0 if len(text) <= chars else _sentence_start(text, len(text) - chars)
            end = len(text)
        else:
            found = locate(text, around)
            if found is None:
                raise Refusal("not_found", f"«{places.clip(around)}» is not in the document (version "
                              f"{document.version}). {places.not_found_hint(text, around)}")
            excerpt = window_around(text, *found.span, max(0, (chars - len(around)) // 2))
            start, end = excerpt.start, excerpt.end
        return models.DocumentView(version=document.version, text=text[start:end], start=start, end=end,
                                   length=len(text), whole=start == 0 and end == len(text))

    async def list_intents(self, agent_id: str) -> models.Intents:
        return models.Intents(intents=[_view(intent, agent_id) for intent in await self._open_intents()])

    async def get_version(self, version: int) -> models.VersionText:
        try:
            found = await self._call(self.text.version_text(version))
        except NotFound as exc:
            current = (await self._call(self.text.document())).version
            raise Refusal("no_such_version", f"version {version} does not exist; the document is at "
                          f"version {current} (versions start at 0)") from exc
        return models.VersionText(version=found.version, text=found.text)

    async def diff(self, from_version: int, to_version: int) -> models.Diff:
        old = await self.get_version(from_version)
        new = await self.get_version(to_version)
        segments = word_diff(old.text, new.text)
        shown = [models.DiffSegment(kind=s.kind, text=_shorten(s.text) if s.kind == "equal" else s.text)
                 for s in segments]
        return models.Diff(from_version=from_version, to_version=to_version, segments=shown,
                           **diff_stats(segments))

    async def chat_tail(self) -> list[dict]:
        messages = await self._call(self.chat.messages(limit=self.settings.chat_tail))
        return [m.model_dump(mode="json", exclude_none=True) for m in messages]

    # --- writes ---

    async def announce_intent(self, agent_id: str, anchor: str, summary: str) -> models.Announced:
        await self.may_write(agent_id)
        document = await self._call(self.text.document())
        text, intents = document.text, await self._open_intents()
        mine = [i for i in intents if i.agent_id == agent_id]
        for intent in mine:
            if intent.anchor == anchor:  # the same announcement again: the same lease
                return models.Announced(intent_id=intent.intent_id, anchor=anchor, expires_at=intent.expires_at)
        if mine:
            raise Refusal("intent_open", f"you already hold intent {mine[0].intent_id} on "
                          f"«{places.clip(mine[0].anchor)}»: submit_edit with it, or cancel_intent it, "
                          "before announcing another")
        span = _unique_place(text, anchor, document.version)
        held = places.holders(text, intents, agent_id, span)
        if held:
            raise Refusal("place_taken", f"{places.describe_holders(held)}. Pick another sentence, or "
                          "wait for that intent to be applied, cancelled or to expire (list_intents).")
        intent_id = self.new_id(agent_id, "intent")
        await self._post(EditIntent(agent_id=agent_id, message_id=f"{intent_id}:open", intent_id=intent_id,
                                    summary=summary, anchor=anchor))
        self.event(events.Intent, agent_id, intent_id=intent_id, status="opened")
        # Someone may have announced the same place meanwhile: the older intent keeps it.
        intents = await self._open_intents()
        posted = next((i for i in intents if i.intent_id == intent_id), None)
        older = [] if posted is None else places.older_holders(text, intents, posted)
        if posted is None or older:
            reason = (f"{older[0].agent_id} announced this place first" if older
                      else "the intent's lease ended at once")
            await self._release(agent_id, intent_id, reason)
            raise Refusal("place_taken", f"{reason}: {places.describe_holders(older)}. Pick another place.")
        await self._post(IntentStatus(agent_id=agent_id, message_id=f"{intent_id}:confirmed",
                                      intent_id=intent_id, status="confirmed"))
        self.event(events.Intent, agent_id, intent_id=intent_id, status="confirmed")
        return models.Announced(intent_id=intent_id, anchor=anchor, expires_at=posted.expires_at)

    async def submit_edit(self, agent_id: str, intent_id: str, type: str, anchor: str, text: str,
                          occurrence: int | None) -> models.EditApplied:
        await self._count_write(agent_id)
        edit_id = _edit_id(agent_id, intent_id)
        applied, silent = await self.text.find_edit(edit_id)
        got_it = self._unsure.pop(edit_id, None)
        if applied is not None:  # an earlier call applied it and its answer, or the chat's news of it, was lost
            return await self._tell_applied(agent_id, intent_id, applied, type)
        if got_it in silent:  # sent elsewhere now, it could be applied twice
            self._remember_unsure(edit_id, got_it)
            raise Refusal("outcome_unknown", "the text node that got this edit earlier still does not "
                          "answer, so whether it applied it is unknown. Call submit_edit again with the same "
                          "arguments once it is back (in a minute): it is not sent elsewhere meanwhile.")
        if silent:
            log.info("edit_lookup_incomplete", edit_id=edit_id, silent=silent)
        await self._open_for_writes()
        try:
            op = EditOp(type=type, anchor=anchor if type != "append" else "", text=text, occurrence=occurrence)
        except ValidationError as exc:
            raise Refusal("invalid_edit", "; ".join(e["msg"] for e in exc.errors(include_url=False))) from exc
        intents = await self._open_intents()
        intent = _own_intent(intents, intent_id, agent_id)
        document = await self._call(self.text.document())
        current = document.text
        place = locate(current, intent.anchor)
        if place is None:
            await self._release(agent_id, intent_id, "the text the intent held changed before the edit")
            raise Refusal("intent_stale", f"the text your intent held («{places.clip(intent.anchor)}») is no "
                          "longer in the document, so the intent is cancelled. Read the document and "
                          "announce a new intent.")
        span = None if op.type == "append" else _edit_span(current, op, place.span)
        if span is not None:
            held = places.holders(current, intents, agent_id, span)
            if held:
                raise Refusal("place_taken", f"the edit's anchor is in another agent's place: "
                              f"{places.describe_holders(held)}. Edit only where your intent stands.")
            _check_near(current, span, place.span, self.settings.edit_radius)
        request = EditRequest(edit_id=edit_id, agent_id=agent_id, intent_id=intent_id, op=op,
                              summary=intent.summary[:2000] or None)
        try:
            accepted = await self._call(self.text.submit(request))
        except BudgetExhausted as exc:
            await self._release(agent_id, intent_id, "the token budget is spent")
            raise Refusal("budget_exhausted", "the session's token budget is spent: the edit was not "
                          "applied and your intent is cancelled. Stop working on this session.") from exc
        except OutcomeUnknown as exc:
            self._remember_unsure(edit_id, exc.url)
            raise Refusal("outcome_unknown", "a text node got the edit and stopped answering: it may have "
                          "been applied. In a minute, once it is back, call submit_edit again with the same "
                          "arguments: it answers as the first time if the edit was applied, and applies it "
                          "now if not.") from exc
        except EditRefused as exc:
            self.event(events.EditRejected, agent_id, reason=exc.code, edit_id=edit_id)
            raise _edit_refusal(exc, current, op, place.span) from exc
        return await self._tell_applied(agent_id, intent_id, accepted, op.type)

    def _remember_unsure(self, edit_id: str, url: str) -> None:
        self._unsure[edit_id] = url
        if len(self._unsure) > MAX_UNSURE_EDITS:
            del self._unsure[next(iter(self._unsure))]

    async def _tell_applied(self, agent_id: str, intent_id: str, accepted: EditAccepted,
                            op_type: str) -> models.EditApplied:
        """Count an applied edit in analytics, then say so in the chat (the built-in
        agents' order); each step keyed by the edit, so a call again repeats none of them."""
        self.event(events.EditApplied, agent_id, _event_id("edit-applied", accepted.edit_id),
                   edit_id=accepted.edit_id, version=accepted.version, node_id=accepted.node_id)
        self.event(events.Intent, agent_id, _event_id("intent-applied", intent_id), intent_id=intent_id,
                   status="applied")
        await self._post(EditOperation(agent_id=agent_id, message_id=f"{intent_id}:operation", intent_id=intent_id,
                                       edit_id=accepted.edit_id, version=accepted.version, op=op_type))
        await self._post(IntentStatus(agent_id=agent_id, message_id=f"{intent_id}:applied",
                                      intent_id=intent_id, status="applied"))
        return models.EditApplied(edit_id=accepted.edit_id, version=accepted.version, node_id=accepted.node_id)

    async def cancel_intent(self, agent_id: str, intent_id: str, reason: str) -> models.Cancelled:
        _own_intent(await self._open_intents(), intent_id, agent_id)
        await self._release(agent_id, intent_id, reason)
        return models.Cancelled(intent_id=intent_id)

    async def post_comment(self, agent_id: str, text: str, ref: str | None,
                           comment_id: str | None) -> models.Posted:
        """With a `comment_id` seen before, the first comment again (the chat's idempotency)."""
        await self.may_write(agent_id)
        message_id = f"{agent_id}:comment:{comment_id}" if comment_id else self.new_id(agent_id, "comment")
        posted = await self._call(self.chat.post(EditComment(
            agent_id=agent_id, message_id=message_id, text=text, ref=ref)))
        return models.Posted(id=posted.id, ts=posted.ts)

    async def report_usage(self, agent_id: str, prompt_tokens: int, completion_tokens: int,
                           model: str, report_id: str | None) -> models.Usage:
        """Tokens go to the ledger first, then to analytics. Never refused: the ledger
        takes them when the budget covers them (it never passes the limit), analytics
        counts them always (they were used), and the answer says when the budget is
        spent. A `report_id` reported again counts once in both."""
        usage_id = f"{agent_id}:usage:{report_id}" if report_id else self.new_id(agent_id, "usage")
        spend = SpendRequest(spend_id=usage_id, agent_id=agent_id, tokens=prompt_tokens + completion_tokens)
        try:
            budget = await self._call(self.text.spend(spend))
        except BudgetExhausted:
            budget = await self._call(self.text.budget())
        self.event(events.LlmCall, agent_id, _event_id("usage", usage_id), phase="outside", model=model,
                   prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, latency_ms=0)
        return models.Usage(spent=budget.spent, limit=budget.limit, exhausted=budget.exhausted)

    async def _release(self, agent_id: str, intent_id: str, reason: str) -> None:
        """Close an intent, saying why in the chat (as the built-in agents do)."""
        await self._post(EditComment(agent_id=agent_id, message_id=f"{intent_id}:comment",
                                     text=reason[:3000], ref=intent_id))
        await self._post(IntentStatus(agent_id=agent_id, message_id=f"{intent_id}:cancelled",
                                      intent_id=intent_id, status="cancelled"))
        self.event(events.Intent, agent_id, intent_id=intent_id, status="cancelled")

    async def ready(self) -> tuple[bool, dict]:
        checks = {}
        for name, client in (("text_nodes", self.text), ("chat", self.chat), ("analytics", self.analytics)):
            with suppress(ServiceError):
                checks[name] = "ok" if await client.ready() else "unavailable"
            checks.setdefault(name, "unavailable")
        return all(v == "ok" for v in checks.values()), checks


def _view(intent: OpenIntent, agent_id: str) -> models.IntentView:
    return models.IntentView(intent_id=intent.intent_id, agent_id=intent.agent_id, anchor=intent.anchor,
                             summary=intent.summary, expires_at=intent.expires_at,
                             yours=intent.agent_id == agent_id)


def _sentence_start(text: str, offset: int) -> int:
    """The start of the first sentence at or after `offset` (an excerpt starts whole)."""
    return next((start for start, _ in sentences(text) if start >= offset), offset)


def _shorten(text: str) -> str:
    if len(text) <= 2 * EQUAL_KEPT + 1:
        return text
    return f"{text[:EQUAL_KEPT]} … {text[-EQUAL_KEPT:]}"


def _unique_place(text: str, anchor: str, version: int):
    starts = find_all(text, anchor)
    if not starts:
        raise Refusal("anchor_not_found", f"«{places.clip(anchor)}» is not in the document (version "
                      f"{version}). {places.not_found_hint(text, anchor)} Copy the anchor exactly.")
    if len(starts) > 1:
        raise Refusal("anchor_ambiguous", f"«{places.clip(anchor)}» is not unique. "
                      f"{places.ambiguous_hint(text, anchor)}. Anchor the intent on a longer, unique phrase.")
    return starts[0], starts[0] + len(anchor)


def _event_id(kind: str, key: str) -> str:
    """The same id each time for the event of `key` (analytics stores it once)."""
    return f"mcp-{kind}-{uuid.uuid5(uuid.NAMESPACE_URL, key).hex}"


def _edit_id(agent_id: str, intent_id: str) -> str:
    """The one edit an intent may make (so a retry is idempotent on the text node),
    for intents this server gave the agent only: another's is not its to finish."""
    ours = INTENT_ID.match(intent_id)
    if ours is None:
        raise Refusal("no_open_intent", f"{intent_id!r} is no intent announced here: announce one with "
                      "announce_intent before you edit")
    if ours["agent"] != agent_id:
        raise Refusal("not_your_intent", f"intent {intent_id} belongs to {ours['agent']}; announce your own "
                      "with announce_intent")
    return intent_id.replace(":intent-", ":edit-", 1)


def _own_intent(intents: list[OpenIntent], intent_id: str, agent_id: str) -> OpenIntent:
    for intent in intents:
        if intent.intent_id == intent_id:
            if intent.agent_id != agent_id:
                raise Refusal("not_your_intent", f"intent {intent_id} belongs to {intent.agent_id}; "
                              "announce your own with announce_intent")
            return intent
    raise Refusal("no_open_intent", f"you hold no open intent {intent_id!r} (never announced, already "
                  "applied or cancelled, or its lease expired). Announce one with announce_intent "
                  "before you edit.")


def _edit_span(text: str, op: EditOp, near: tuple[int, int]) -> tuple[int, int] | None:
    """Where the edit's anchor matches: the `occurrence` asked, else the one closest to
    the intent (None when absent: the text node answers anchor_not_found)."""
    starts = find_all(text, op.anchor)
    if not starts:
        return None
    if op.occurrence is not None:
        start = starts[min(op.occurrence, len(starts)) - 1]
    else:
        start = min(starts, key=lambda s: abs(s - near[0]))
    return start, start + len(op.anchor)


def _check_near(text: str, span: tuple[int, int], near: tuple[int, int], radius: int) -> None:
    area = window_around(text, *near, radius)
    if not overlaps(span, (area.start, area.end)):
        raise Refusal("outside_intent", f"the anchor is not where your intent stands (around "
                      f"«{places.clip(text[near[0]:near[1]])}»): an edit must stay within about {radius} "
                      "characters of its intent. Announce a new intent for that other place.")


def _edit_refusal(exc: EditRefused, text: str, op: EditOp, near: tuple[int, int]) -> Refusal:
    count = len(find_all(text, op.anchor))
    match exc.code:
        case "anchor_not_found" if count:  # fewer occurrences than `occurrence` asked
            return Refusal("anchor_not_found", f"«{places.clip(op.anchor)}» occurs {count} times, not "
                           f"{op.occurrence}. {places.ambiguous_hint(text, op.anchor)}. Call submit_edit "
                           "again with an `occurrence` that exists: your intent is still open.")
        case "anchor_not_found":
            return Refusal("anchor_not_found", f"«{places.clip(op.anchor)}» is not in the document. "
                           f"{places.not_found_hint(text, op.anchor, near)} Copy the anchor exactly and "
                           "call submit_edit again: your intent is still open.")
        case "anchor_ambiguous":
            return Refusal("anchor_ambiguous", f"«{places.clip(op.anchor)}» is not unique. "
                           f"{places.ambiguous_hint(text, op.anchor)}. Call submit_edit again with "
                           "`occurrence` (1-based) or a longer anchor: your intent is still open.")
    return Refusal(exc.code, f"the text node refused the edit: {exc.detail or exc.code}")
