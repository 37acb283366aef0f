"""The MCP face of `Session`: tools (names fixed, typed input and output, described
for a model to read), resources and the protocol prompt, on the official SDK's
`MCPServer`. Every call acts for the agent its bearer token names."""

import functools
import json
import time
from typing import Annotated, Literal

import structlog

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from opentelemetry import trace
from pydantic import Field

from coedit.chat.models import MAX_TEXT_CHARS
from coedit.mcp import models
from coedit.mcp.identity import AgentTokens
from coedit.mcp.metrics import TOOL_CALLS, TOOL_SECONDS
from coedit.mcp.session import Refusal, Session

PROTOCOL = """\
You are one of several agents writing one document together in a coedit session.
Other agents (some built in, some like you) edit at the same time; the chat is how you
coordinate. For every change:
1. read_document (with `around` for a long text) and list_intents: open intents hold
   places nobody else may touch until their lease ends.
2. announce_intent(anchor, summary): the anchor is a sentence or phrase copied exactly
   from the text, where you mean to change it. Refused if another agent holds it:
   choose another place.
3. submit_edit(intent_id, type, anchor, text): one edit near your intent, its anchor
   copied exactly from the current text. An anchor error tells you what the text says
   now: fix the anchor and call again (the intent stays open). One edit per intent.
4. Say what you did or why you gave up with post_comment; cancel_intent frees a place
   you will not edit. Leases last about a minute unless you post about the intent.
5. If your own model's token use is known, report_usage after each call: the session
   has one token budget for everyone; once it is spent, writes are refused.
6. People steer: the chat (resource coedit://chat) shows what they ask, and their word
   outranks your plan; while they pause the session, writes are refused.
Keep edits small and in the document's language and style."""

CLIENT_ID = r"^[\w.:@/-]{1,100}$"  # becomes part of a chat message id or a ledger spend id
IntentId = Annotated[str, Field(min_length=1, max_length=200, description="from announce_intent")]

log = structlog.get_logger("coedit.mcp")


def caller() -> str:
    """The agent the request's bearer token names (the SDK's auth checked it)."""
    token = get_access_token()
    if token is None:  # only reachable if the app were mounted without its auth
        raise PermissionError("no authenticated agent")
    return token.client_id


def observed(tool):
    """Each call: a log line, metrics and the agent on the SDK's span (`tools/call <name>`)."""
    @functools.wraps(tool)
    async def call(*args, **kwargs):
        agent, started, outcome = caller(), time.perf_counter(), "error"
        trace.get_current_span().set_attribute("coedit.agent_id", agent)
        try:
            result = await tool(*args, **kwargs)
            outcome = "ok"
            return result
        except Refusal as exc:
            outcome = exc.code
            raise
        finally:
            seconds = time.perf_counter() - started
            TOOL_CALLS.labels(tool.__name__, agent, outcome).inc()
            TOOL_SECONDS.labels(tool.__name__).observe(seconds)
            log.info("tool_call", tool=tool.__name__, agent_id=agent, outcome=outcome,
                     ms=round(seconds * 1000, 1))

    return call


def build_server(session: Session, tokens: AgentTokens, own_url: str) -> MCPServer:
    """The SDK's bearer auth needs AuthSettings, whose `issuer_url` names an OAuth
    server; there is none here (tokens are static), so it names this server itself and
    no OAuth route is published (`resource_server_url=None`)."""
    server = MCPServer(
        "coedit", title="coedit session", instructions=PROTOCOL, token_verifier=tokens,
        auth=AuthSettings(issuer_url=own_url, resource_server_url=None),
    )
    reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                             open_world_hint=False)
    excerpt_chars = session.settings.excerpt_chars

    @server.tool(annotations=reads)
    @observed
    async def read_document(
        around: Annotated[str | None, Field(description="a phrase of the document: answer the "
                                                        "sentences around it instead of the end")] = None,
        chars: Annotated[int, Field(ge=100, le=100_000, description="about how many characters to "
                                                                    "answer")] = excerpt_chars,
    ) -> models.DocumentView:
        """Read the shared document: the whole text when it fits in `chars`, else its end
        (or, with `around`, the whole sentences around that phrase), with the version it is
        from. Copy anchors from this text exactly."""
        return await session.read_document(around, chars)

    @server.tool(annotations=reads)
    @observed
    async def list_intents() -> models.Intents:
        """The open intents of every agent (yours marked): each holds the place its anchor
        matches until it is applied, cancelled or its lease expires. Never announce or edit
        where another agent's intent stands."""
        return await session.list_intents(caller())

    @server.tool(annotations=writes)
    @observed
    async def announce_intent(
        anchor: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS, description=(
            "a unique sentence or phrase copied exactly from the document: the place you will edit"))],
        summary: Annotated[str, Field(min_length=1, max_length=2000, description=(
            "what you mean to change there, in a few words, for the other agents"))],
    ) -> models.Announced:
        """Claim a place before editing it: posts your intent to the session's chat, where every
        agent sees it, and holds the place for you (a lease of about a minute, renewed by any
        message about the intent). Refused when another agent's open intent overlaps that place,
        or when you already hold an intent. Returns the intent_id for submit_edit."""
        return await session.announce_intent(caller(), anchor, summary)

    @server.tool(annotations=writes)
    @observed
    async def submit_edit(
        intent_id: IntentId,
        type: Annotated[Literal["insert_after", "insert_before", "replace", "delete", "append"], Field(
            description="insert_after/insert_before the anchor, replace it, delete it, or append "
                        "to the end of the document (no anchor)")],
        anchor: Annotated[str, Field(max_length=4000, description=(
            "text copied exactly from the current document, near your intent's anchor; empty "
            "for append"))] = "",
        text: Annotated[str, Field(max_length=10_000, description=(
            "the new text (for insert: include the spaces or line breaks it needs); empty for "
            "delete"))] = "",
        occurrence: Annotated[int | None, Field(ge=1, description=(
            "which match of the anchor (1-based) when it occurs more than once"))] = None,
    ) -> models.EditApplied:
        """Apply one edit for your open intent. It goes to a text node, which replicates it to
        the others; the chat then shows the operation and your intent as applied. Refused
        without your own open intent, where another agent holds the place, or when the
        anchor is not (or not uniquely) in the current text: the error quotes the text as it is
        now, so fix the anchor and call again."""
        return await session.submit_edit(caller(), intent_id, type, anchor, text, occurrence)

    @server.tool(annotations=writes)
    @observed
    async def cancel_intent(
        intent_id: IntentId,
        reason: Annotated[str, Field(min_length=1, max_length=2000, description=(
            "why you give the place up, for the other agents"))],
    ) -> models.Cancelled:
        """Give up your open intent (the place is free again); the reason goes to the chat."""
        return await session.cancel_intent(caller(), intent_id, reason)

    @server.tool(annotations=writes)
    @observed
    async def post_comment(
        text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS, description="your message")],
        ref: Annotated[str | None, Field(max_length=200, description=(
            "an intent_id or edit_id it is about (about your open intent, it renews the lease)"))] = None,
        comment_id: Annotated[str | None, Field(pattern=CLIENT_ID, description=(
            "your own id for this comment: sent again, it posts nothing new"))] = None,
    ) -> models.Posted:
        """Post a comment to the session's chat, which every agent and person reads."""
        return await session.post_comment(caller(), text, ref, comment_id)

    @server.tool(annotations=reads)
    @observed
    async def get_version(
        version: Annotated[int, Field(ge=0, description="0 is the initial text")],
    ) -> models.VersionText:
        """The whole text of the document as it was at `version`."""
        return await session.get_version(version)

    @server.tool(annotations=reads)
    @observed
    async def diff(
        from_version: Annotated[int, Field(ge=0, description="the older version")],
        to_version: Annotated[int, Field(ge=0, description="the newer version")],
    ) -> models.Diff:
        """What changed between two versions, word by word (long unchanged stretches shortened)."""
        return await session.diff(from_version, to_version)

    @server.tool(annotations=writes)
    @observed
    async def report_usage(
        prompt_tokens: Annotated[int, Field(ge=0, le=10_000_000)],
        completion_tokens: Annotated[int, Field(ge=0, le=10_000_000)],
        model: Annotated[str, Field(min_length=1, max_length=128, description="your model's name")],
        report_id: Annotated[str | None, Field(pattern=CLIENT_ID, description=(
            "your own id for this report (e.g. the model call's id): reported again, it counts once"))] = None,
    ) -> models.Usage:
        """Report the tokens your own model used working on this session: they count against the
        session's shared token budget and in its analytics under your name."""
        return await session.report_usage(caller(), prompt_tokens, completion_tokens, model, report_id)

    @server.resource("coedit://document", name="document", mime_type="text/plain",
                     description="the shared document's current text")
    async def document() -> str:
        caller()
        return (await session.read_document(None, 10**9)).text

    @server.resource("coedit://chat", name="chat", mime_type="application/json",
                     description="the newest messages of the session's chat, oldest first")
    async def chat() -> str:
        caller()
        return json.dumps(await session.chat_tail(), ensure_ascii=False)

    @server.prompt(name="coedit_protocol", title="How to write in a coedit session")
    def coedit_protocol() -> str:
        """The session's rules, for a model about to use these tools."""
        return PROTOCOL

    return server
