"""One edit, as a small state machine: each state is a method that does one step
and names the next. Every exit that is not an applied edit goes through `cancel`,
which explains itself in the chat and in analytics."""

import random
from dataclasses import dataclass, field
from enum import StrEnum

import structlog
from pydantic import ValidationError

from coedit.agent import context, prompts
from coedit.agent.agent import Agent
from coedit.agent.context import Excerpt, Located, Span
from coedit.agent.protocol import IntentReply, OperationReply, Phase
from coedit.agent.replies import ReplyError
from coedit.analytics import models as events
from coedit.chat.models import EditComment, EditIntent, EditOperation, IntentStatus, OpenIntent
from coedit.text_node.client import EditRefused, OutcomeUnknown
from coedit.text_node.models import EditAccepted, EditOp, EditRequest

log = structlog.get_logger("coedit.agent")


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
    intent: IntentReply | None = None
    intent_id: str | None = None
    announced: bool = False
    seen_around: str = ""  # the anchor and its neighbour sentences when the intent was chosen
    where: Located | None = None
    operation: OperationReply | None = None
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

    async def _ask(self, phase: Phase, messages):
        self.outcome.llm_calls += 1
        return await self.agent.ask(phase, messages)

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
        return [other for found, other in self._spans_of_others() if context.overlaps(found, span)]

    def _move_within(self, area: Span) -> bool:
        """Move the intent to this agent's preferred free sentence in `area` (the text
        the model was shown): no model call, the same summary. False if none is free."""
        places = [s for s in self._ranked_free() if context.overlaps(s, area)]
        if not places or self.moves >= self.MAX_MOVES:
            return False
        self.moves += 1
        start, end = places[0]
        self.intent = self.intent.model_copy(update={"anchor": self.text[start:end]})
        self.where = context.locate(self.text, self.intent.anchor, near=start)
        self.seen_around = self._window(1).text
        return True

    def _spans_of_others(self) -> list[tuple[Span, OpenIntent]]:
        spans = []
        for other in self.others:
            found = context.locate(self.text, other.anchor)
            if found is not None:
                spans.append((found.span, other))
        return spans

    def _claims_in(self, excerpt: Excerpt) -> list[dict]:
        return [
            {"agent_id": o.agent_id, "anchor": o.anchor, "summary": o.summary}
            for span, o in self._spans_of_others()
            if context.overlaps(span, (excerpt.start, excerpt.end))
        ]

    def _window(self, radius: int) -> Excerpt:
        return context.window_around(self.text, *self.where.span, radius)

    def _cancel_because(self, reason: str) -> State:
        self.outcome.reason = reason
        return State.CANCEL

    # --- states ---

    async def _read(self) -> State:
        await self._refresh()
        return State.INTENT

    async def _intent(self) -> State:
        claimed = [span for span, _ in self._spans_of_others()]
        key = f"{self.agent.id}:{self.agent.run_id}:{self.number}"
        mine = context.share(self.text, self.agent.id, len(self.agent.authors_seen))
        preferred = [s for s in context.free_sentences(self.text, claimed) if s in mine]
        region = context.region_for_intent(self.text, self.size, key, claimed, preferred)
        if region is None:  # asking the model now would only buy a conflict
            self.outcome.busy = True
            return State.DONE
        if Phase.INTENT in self.phases:
            messages = prompts.build(Phase.INTENT, self.agent.author, region, claimed=self._claims_in(region))
            try:
                self.intent = await self._ask(Phase.INTENT, messages)
            except ReplyError:
                return self._cancel_because("the model gave no usable intent")
        else:
            self.intent = self._rule_intent(region, claimed, key)
        anchor = self.intent.anchor
        if anchor not in region.text:
            anchor = context.closest_sentence(region.text, anchor)
            if anchor is None:
                return self._cancel_because("the intent's anchor is not in the text")
            self.intent = self.intent.model_copy(update={"anchor": anchor})
        self.where = context.locate(self.text, anchor, near=region.start)
        self.seen_around = self._window(1).text
        # Others may have claimed the place while the model thought: look again.
        await self._refresh_intents()
        if self._claimed_by(self.where.span) and not self._move_within((region.start, region.end)):
            self.outcome.contended = True
            return self._cancel_because("others claimed every free place of my excerpt meanwhile")
        return State.ANNOUNCE

    def _rule_intent(self, region: Excerpt, claimed: list[Span], key: str) -> IntentReply:
        """Without the intent phase: a sentence of the region nobody has claimed."""
        free = [s for s in context.free_sentences(self.text, claimed)
                if context.overlaps(s, (region.start, region.end))]
        start, end = random.Random(key).choice(free)
        return IntentReply(anchor=self.text[start:end], summary="continue the text here")

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
        self.where = context.locate(self.text, self.intent.anchor, near=self.where.span[0])
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
            messages = prompts.build(
                Phase.CONFIRM, self.agent.author, window, claimed=self._claims_in(window),
                intent=self._intent_json(),
            )
            try:
                reply = await self._ask(Phase.CONFIRM, messages)
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

    def _intent_json(self) -> dict:
        return {"anchor": self.intent.anchor, "summary": self.intent.summary}

    async def _generate(self) -> State:
        window = self._window(self.size // 3)
        intent = self._intent_json()
        if self.duplicate is not None:  # the window may not show where the text already is
            intent["already_in_document"] = self.duplicate
        if self.rejected is not None:
            intent["rejected_draft"] = self.rejected
        messages = prompts.build(Phase.GENERATE, self.agent.author, window, intent=intent)
        try:
            self.operation = await self._ask(Phase.GENERATE, messages)
        except ReplyError:
            return self._cancel_because("the model gave no usable operation")
        if self.operation.type != "append" and self.operation.anchor not in window.text:
            anchor = context.closest_sentence(window.text, self.operation.anchor)
            if anchor is None:
                return self._cancel_because("the operation's anchor is not in the text")
            self.operation = self.operation.model_copy(update={"anchor": anchor})
        return State.CHECK

    async def _check(self) -> State:
        """Re-read the document: the anchor must still be there, the change not yet."""
        self.text = (await self.agent.text.document()).text
        op = self.operation
        if op.type != "append":
            found = context.locate(self.text, op.anchor, near=self.where.span[0])
            if found is None:
                return self._cancel_because("the anchor is gone: someone changed this place")
            self.where = found
            self.occurrence = found.occurrence if found.count > 1 else None
        if op.type in ("insert_after", "insert_before", "append") and op.text.strip() in self.text:
            if self.duplicate is None:  # ask once more rather than drop the intent's call
                self.duplicate = op.text.strip()
                return State.GENERATE
            return self._cancel_because("the text is already in the document")
        return State.REVIEW if Phase.REVIEW in self.phases else State.SUBMIT

    async def _review(self) -> State:
        op = self.operation
        span = self.where.span if op.type != "append" else (len(self.text), len(self.text))
        before = context.window_around(self.text, *span, self.size // 4)
        local = (span[0] - before.start, span[1] - before.start)
        after = context.apply(before.text, op.type, local, op.text)
        messages = prompts.build(
            Phase.REVIEW, self.agent.author, before, operation=op.model_dump(), after=after
        )
        try:
            reply = await self._ask(Phase.REVIEW, messages)
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
        try:
            edit = EditRequest(
                edit_id=edit_id, agent_id=self.agent.id, intent_id=self.intent_id,
                summary=self.intent.summary[:2000] or None,
                op=EditOp(type=op.type, anchor=op.anchor, text=op.text, occurrence=self.occurrence),
            )
        except ValidationError as exc:  # what the node would refuse with 422
            return self._cancel_because(f"the edit is not valid: {exc.errors()[0]['msg']}")
        try:
            answer = await self.agent.text.submit(edit)
        except EditRefused as exc:
            return self._cancel_because(f"the text node refused the edit: {exc.code}")
        except OutcomeUnknown as exc:
            return self._cancel_because(f"outcome unknown, not retried elsewhere: {exc}")
        self.outcome.applied, self.outcome.edit = True, answer
        await self.agent.chat.post(EditOperation(
            agent_id=self.agent.id, message_id=f"{self.intent_id}:operation",
            intent_id=self.intent_id, edit_id=edit_id, version=answer.version, op=op.type,
        ))
        await self.agent.chat.post(IntentStatus(
            agent_id=self.agent.id, message_id=f"{self.intent_id}:applied",
            intent_id=self.intent_id, status="applied",
        ))
        self.agent.event(events.EditApplied, edit_id=edit_id, version=answer.version, node_id=answer.node_id)
        self.agent.event(events.Intent, intent_id=self.intent_id, status="applied")
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
