"""One edit, as a small state machine: each state is a method that does one step
and names the next. Every exit that is not an applied edit goes through `cancel`,
which explains itself in the chat and in analytics."""

import asyncio
import random
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

import structlog
from pydantic import ValidationError

from coedit.agent import context, prompts
from coedit.agent.agent import Agent
from coedit.agent.replies import ReplyError
from coedit.analytics import models as events
from coedit.chat.models import (
    EditComment,
    EditIntent,
    EditOperation,
    IntentStatus,
    OpenIntent,
)
from coedit.common import passages
from coedit.common.agent_protocol import OperationReply, Phase, Span, sentences
from coedit.common.passages import Excerpt, Located
from coedit.text_node.client import EditRefused, OutcomeUnknown
from coedit.text_node.models import EditAccepted, EditOp, EditRequest

log = structlog.get_logger("coedit.agent")


async def to_the_end(step):
    """Await `step` to its end even when the agent is stopped (cancelled) meanwhile,
    then let the stop through: what it started elsewhere is finished and told."""
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])  # its own failure, if any, is not the stop's
        raise


class State(StrEnum):
    READ = "read"
    INTENT = "intent"
    ANNOUNCE = "announce"
    CONFIRM = "confirm"
    GENERATE = "generate"
    CHECK = "check"
    REVIEW = "review"
    SUBMIT = "submit"
    CANCEL = "cancel"
    DONE = "done"


@dataclass(frozen=True)
class Intent:
    anchor: str  # a whole sentence of the text, as the model's number named it
    summary: str


@dataclass(frozen=True)
class Operation:
    type: str
    anchor: str
    text: str


_ECHOED_NUMBER = re.compile(r"^\s*\[\d+\]\s*")
# What small models leave in the prose they write: markup tags (<string>, </answer>),
# braces from the JSON around it, bracketed numbers like the prompt's sentence numbers.
_LITTER = re.compile(r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>|[{}]|\[\d*\]")


def fitted_text(reply: OperationReply, truncated: bool) -> str | None:
    """The reply's text as the operation needs it: a sentence number the model echoed
    dropped, the blank between sentences added (so the model need not think of it),
    an answer cut off at max_tokens shortened to its last whole sentence. None when
    nothing usable is left."""
    text = _ECHOED_NUMBER.sub("", " ".join(reply.text.split()))
    if reply.type == "delete":
        return ""
    if truncated:
        whole = [text[s:e] for s, e in sentences(text) if text[e - 1:e] in ".!?…»”\"')"]
        text = " ".join(whole)
    if not text:
        return None
    return {"insert_after": " " + text, "insert_before": text + " "}.get(reply.type, text)


def litter(text: str, document: str) -> str | None:
    """The first piece of the model's text that is not prose (see `_LITTER`), unless
    the document itself writes so (a text citing sources as [1] may go on doing it)."""
    return next((m.group() for m in _LITTER.finditer(text) if m.group() not in document), None)


@dataclass
class Outcome:
    applied: bool = False
    busy: bool = False  # every place was claimed by others: nothing was asked or announced
    contended: bool = False  # an older intent took the same place
    reason: str | None = None  # why it was cancelled
    edit: EditAccepted | None = None  # the text node's answer
    llm_calls: int = 0


@dataclass
class EditCycle:
    agent: Agent
    number: int
    state: State = State.READ
    outcome: Outcome = field(default_factory=Outcome)
    text: str = ""
    open: list[OpenIntent] = field(default_factory=list)  # everyone's, oldest first
    others: list[OpenIntent] = field(default_factory=list)
    intent: Intent | None = None
    intent_id: str | None = None
    announced: bool = False
    seen_around: str = ""  # the anchor and its neighbour sentences when the intent was chosen
    where: Located | None = None
    operation: Operation | None = None
    occurrence: int | None = None
    moves: int = 0  # times the intent moved to another sentence after a collision
    duplicate: str | None = None  # text the model wrote that the document already had
    rejected: dict | None = None  # the draft the review turned down, with its reason

    MAX_MOVES = 2

    async def run(self) -> Outcome:
        while self.state is not State.DONE:
            log.debug("cycle_state", cycle=self.number, state=self.state.value)
            self.state = await getattr(self, f"_{self.state.value}")()
        return self.outcome

    # --- helpers ---

    @property
    def phases(self) -> frozenset[Phase]:
        return self.agent.settings.phase_set

    @property
    def size(self) -> int:
        return self.agent.settings.context_chars

    async def _ask(self, prompt: prompts.Prompt):
        self.outcome.llm_calls += 1
        return await self.agent.ask(prompt)

    async def _refresh(self) -> None:
        await self._refresh_intents()
        self.text = (await self.agent.text.document()).text

    async def _refresh_intents(self) -> None:
        self.open = await self.agent.chat.open_intents()
        self.others = [i for i in self.open if i.agent_id != self.agent.id]
        self.agent.authors_seen.update(i.agent_id for i in self.open)

    def _ranked_free(self) -> list[Span]:
        """The sentences nobody else holds, this agent's share first (see context.share)."""
        claimed = [span for span, _ in self._spans_of_others()]
        return context.ranked_free(self.text, claimed, self.agent.id, len(self.agent.authors_seen))

    def _claimed_by(self, span: Span) -> list[OpenIntent]:
        return [other for found, other in self._spans_of_others() if passages.overlaps(found, span)]

    def _move_within(self, area: Span) -> bool:
        """Move the intent to this agent's preferred free sentence in `area` (the text
        the model was shown): no model call, the same summary. False if none is free."""
        places = [s for s in self._ranked_free() if passages.overlaps(s, area)]
        if not places or self.moves >= self.MAX_MOVES:
            return False
        self.moves += 1
        start, end = places[0]
        self.intent = replace(self.intent, anchor=self.text[start:end])
        self.where = passages.locate(self.text, self.intent.anchor, near=start)
        self.seen_around = self._window(1).text
        return True

    def _spans_of_others(self) -> list[tuple[Span, OpenIntent]]:
        spans = []
        for other in self.others:
            found = passages.locate(self.text, other.anchor)
            if found is not None:
                spans.append((found.span, other))
        return spans

    def _claims_in(self, excerpt: Excerpt) -> list[dict]:
        """The others' intents in the excerpt, by the numbers of the sentences they touch."""
        claims = []
        for span, other in self._spans_of_others():
            numbers = [n for n, s in enumerate(excerpt.spans, 1) if passages.overlaps(s, span)]
            if numbers:
                claims.append({"agent_id": other.agent_id, "sentences": numbers, "summary": other.summary})
        return claims

    def _window(self, radius: int) -> Excerpt:
        return passages.window_around(self.text, *self.where.span, radius)

    def _cancel_because(self, reason: str) -> State:
        self.outcome.reason = reason
        return State.CANCEL

    # --- states ---

    async def _read(self) -> State:
        await self._refresh()
        return State.INTENT

    async def _intent(self) -> State:
        # others' claims, and sentences too long to announce: no intent may take either
        claimed = [span for span, _ in self._spans_of_others()] + context.unanchorable(self.text)
        key = f"{self.agent.id}:{self.agent.run_id}:{self.number}"
        mine = context.share(self.text, self.agent.id, len(self.agent.authors_seen))
        preferred = [s for s in context.free_sentences(self.text, claimed) if s in mine]
        region = context.region_for_intent(self.text, self.size, key, claimed, preferred)
        if region is None:  # asking the model now would only buy a conflict
            self.outcome.busy = True
            return State.DONE
        if Phase.INTENT in self.phases:
            free = [n for n, s in enumerate(region.spans, 1) if not any(passages.overlaps(s, c) for c in claimed)]
            prompt = prompts.build(Phase.INTENT, self.agent.author, region, choices=free or None,
                                   claimed=self._claims_in(region))
            try:
                reply, _ = await self._ask(prompt)
            except ReplyError:
                return self._cancel_because("the model gave no usable intent")
            start, end = region.spans[reply.sentence - 1]
            if end - start > context.MAX_ANCHOR_CHARS:  # one it was not offered
                return self._cancel_because("the model chose a sentence too long to be an anchor")
            self.intent = Intent(self.text[start:end], reply.summary[:300])
        else:
            self.intent = self._rule_intent(region, claimed, key)
            start = region.start
        self.where = passages.locate(self.text, self.intent.anchor, near=start)
        self.seen_around = self._window(1).text
        # Others may have claimed the place while the model thought: look again.
        await self._refresh_intents()
        if self._claimed_by(self.where.span) and not self._move_within((region.start, region.end)):
            self.outcome.contended = True
            return self._cancel_because("others claimed every free place of my excerpt meanwhile")
        return State.ANNOUNCE

    def _rule_intent(self, region: Excerpt, claimed: list[Span], key: str) -> Intent:
        """Without the intent phase: a sentence of the region nobody has claimed."""
        free = [s for s in context.free_sentences(self.text, claimed)
                if passages.overlaps(s, (region.start, region.end))]
        start, end = random.Random(key).choice(free)
        return Intent(self.text[start:end], "continue the text here")

    async def _announce(self) -> State:
        self.intent_id = self.agent.new_id("intent")
        await self.agent.chat.post(EditIntent(
            agent_id=self.agent.id, message_id=f"{self.intent_id}:open", intent_id=self.intent_id,
            summary=self.intent.summary or "-", anchor=self.intent.anchor,
        ))
        self.announced = True
        self.agent.event(events.Intent, intent_id=self.intent_id, status="opened")
        return State.CONFIRM

    async def _confirm(self) -> State:
        await self._refresh()
        self.where = passages.locate(self.text, self.intent.anchor, near=self.where.span[0])
        if self.where is None:
            return self._cancel_because("the anchor changed before I could confirm")
        window = self._window(self.size // 4)
        order = [i.intent_id for i in self.open]
        mine = order.index(self.intent_id) if self.intent_id in order else len(order)
        # The older intent keeps an overlapping place (the list is oldest first).
        older = [o for o in self._claimed_by(self.where.span) if order.index(o.intent_id) < mine]
        if older:
            reason = f"{older[0].agent_id} claimed this place first"
            area = window.start, window.end
            if self._move_within(area):  # a new intent on a free sentence nearby
                await self.release(f"{reason}; moving to another sentence")
                return State.ANNOUNCE
            self.outcome.contended = True
            return self._cancel_because(reason)
        # Overlapping claims are settled by the rule above; the model is asked only
        # when the anchor's neighbours changed (is the change perhaps made already?).
        if Phase.CONFIRM in self.phases and self._window(1).text != self.seen_around:
            prompt = prompts.build(
                Phase.CONFIRM, self.agent.author, window, claimed=self._claims_in(window),
                intent=self._intent_json(window),
            )
            try:
                reply, _ = await self._ask(prompt)
            except ReplyError:
                return self._cancel_because("the model gave no usable confirmation")
            if not reply.confirm:
                return self._cancel_because(reply.reason or "not confirmed")
        await self.agent.chat.post(IntentStatus(
            agent_id=self.agent.id, message_id=f"{self.intent_id}:confirmed",
            intent_id=self.intent_id, status="confirmed",
        ))
        self.agent.event(events.Intent, intent_id=self.intent_id, status="confirmed")
        return State.GENERATE

    def _intent_json(self, excerpt: Excerpt) -> dict:
        """The intent as the model sees it: its sentence by number in `excerpt`."""
        return {"sentence": excerpt.number_of(self.where.span), "summary": self.intent.summary}

    async def _generate(self) -> State:
        window = self._window(self.size // 3)
        intent = self._intent_json(window)
        if self.duplicate is not None:  # the window may not show where the text already is
            intent["already_in_document"] = self.duplicate
        if self.rejected is not None:
            intent["rejected_draft"] = self.rejected
        prompt = prompts.build(Phase.GENERATE, self.agent.author, window, choices=[intent["sentence"]],
                               intent=intent)
        try:
            reply, completion = await self._ask(prompt)
        except ReplyError:
            return self._cancel_because("the model gave no usable operation")
        text = fitted_text(reply, completion.truncated)
        if text is None:
            reason = "cut off at max_tokens" if completion.truncated else "empty"
            return self._cancel_because(f"the model's text was {reason}")
        if (found := litter(text, self.text)) is not None:
            flaw = f"the model's text holds {found}, which is not prose"
            if self.rejected is None:  # asked once more, told why, as after a review's rejection
                self.rejected = {"text": text.strip(), "reason": flaw}
                return State.GENERATE
            return self._cancel_because(flaw)
        span = window.spans[reply.sentence - 1]
        self.operation = Operation(reply.type, self.text[span[0]:span[1]], text)
        self.where = passages.locate(self.text, self.operation.anchor, near=span[0])
        return State.CHECK

    async def _check(self) -> State:
        """Re-read the document: the anchor must still be there, the change not yet."""
        self.text = (await self.agent.text.document()).text
        op = self.operation
        found = passages.locate(self.text, op.anchor, near=self.where.span[0])
        if found is None:
            return self._cancel_because("the anchor is gone: someone changed this place")
        self.where = found
        self.occurrence = found.occurrence if found.count > 1 else None
        if op.type in ("insert_after", "insert_before") and op.text.strip() in self.text:
            if self.duplicate is None:  # ask once more rather than drop the intent's call
                self.duplicate = op.text.strip()
                return State.GENERATE
            return self._cancel_because("the text is already in the document")
        return State.REVIEW if Phase.REVIEW in self.phases else State.SUBMIT

    async def _review(self) -> State:
        op = self.operation
        span = self.where.span
        before = passages.window_around(self.text, *span, self.size // 4)
        local = (span[0] - before.start, span[1] - before.start)
        after = context.apply(before.text, op.type, local, op.text)
        shown = {"type": op.type, "sentence": before.number_of(span), "text": op.text.strip()}
        prompt = prompts.build(Phase.REVIEW, self.agent.author, before, operation=shown, after=after)
        try:
            reply, _ = await self._ask(prompt)
        except ReplyError:
            return self._cancel_because("the model gave no usable review")
        if not reply.approve:
            if self.rejected is None:  # one revision, told why, before the intent is dropped
                self.rejected = {"text": op.text, "reason": reply.reason or "rejected"}
                return State.GENERATE
            return self._cancel_because(f"review: {reply.reason or 'rejected'}")
        return State.SUBMIT

    async def _submit(self) -> State:
        op = self.operation
        edit_id = self.intent_id.replace(":intent", ":edit")
        await self.agent.wait_while_paused()
        try:
            edit = EditRequest(
                edit_id=edit_id, agent_id=self.agent.id, intent_id=self.intent_id,
                summary=self.intent.summary[:2000] or None,
                op=EditOp(type=op.type, anchor=op.anchor, text=op.text, occurrence=self.occurrence),
            )
        except ValidationError as exc:  # what the node would refuse with 422
            return self._cancel_because(f"the edit is not valid: {exc.errors()[0]['msg']}")
        return await to_the_end(self._send(edit))

    async def _send(self, edit: EditRequest) -> State:
        """Submit, then tell analytics and the chat. Once the edit is out it may have
        landed, so a stop meanwhile waits for this to finish (`to_the_end`)."""
        try:
            answer = await self.agent.text.submit(edit)
        except EditRefused as exc:
            return self._cancel_because(f"the text node refused the edit: {exc.code}")
        except OutcomeUnknown as exc:
            return self._cancel_because(f"outcome unknown, not retried elsewhere: {exc}")
        self.outcome.applied, self.outcome.edit = True, answer
        self.announced = False  # the intent ends applied: never cancelled after this, whatever fails
        self.agent.event(events.EditApplied, edit_id=edit.edit_id, version=answer.version, node_id=answer.node_id)
        self.agent.event(events.Intent, intent_id=self.intent_id, status="applied")
        await self.agent.chat.post(EditOperation(
            agent_id=self.agent.id, message_id=f"{self.intent_id}:operation",
            intent_id=self.intent_id, edit_id=edit.edit_id, version=answer.version, op=edit.op.type,
        ))
        await self.agent.chat.post(IntentStatus(
            agent_id=self.agent.id, message_id=f"{self.intent_id}:applied",
            intent_id=self.intent_id, status="applied",
        ))
        return State.DONE

    async def _cancel(self) -> State:
        if self.operation is not None:
            self.agent.event(events.EditRejected, reason=self.outcome.reason[:2000])
        await self.release(self.outcome.reason)
        return State.DONE

    async def release(self, reason: str) -> None:
        """Close an announced intent, saying why in the chat."""
        log.info("intent_cancelled", cycle=self.number, reason=reason)
        if not self.announced:
            return
        self.announced = False
        await self.agent.chat.post(EditComment(
            agent_id=self.agent.id, message_id=f"{self.intent_id}:comment",
            text=reason[:3000], ref=self.intent_id,
        ))
        await self.agent.chat.post(IntentStatus(
            agent_id=self.agent.id, message_id=f"{self.intent_id}:cancelled",
            intent_id=self.intent_id, status="cancelled",
        ))
        self.agent.event(events.Intent, intent_id=self.intent_id, status="cancelled")
