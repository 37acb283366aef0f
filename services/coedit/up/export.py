"""`coedit export`: the document's final text and its whole version history (each
version's text with the edit, agent and intent behind it), as Markdown or JSON."""

import asyncio
import json
import re
import sys
from datetime import datetime, timezone

from coedit.text_node.client import MAX_EDIT_PAGE, TextNodeClient
from coedit.up.session import text_node
from coedit.up.session_file import SessionConfig, load_session
from coedit.up.settings import ExportSettings

PARALLEL = 8


def export(settings: ExportSettings) -> None:
    with text_node(settings.data_dir) as url:
        history = asyncio.run(collect(url))
    session = load_session(settings.data_dir)
    body = (render_json(session, history) if settings.format == "json"
            else render_markdown(session, history))
    if settings.output is None:
        sys.stdout.write(body)
    else:
        settings.output.write_text(body, encoding="utf-8")
        print(f"wrote {settings.output}: version {history['document']['version']}, "
              f"{len(history['versions'])} versions", file=sys.stderr)


async def collect(url: str) -> dict:
    """The node's document, budget, edit log and the text of every version up to the
    document's version when the export began (a running session may go on)."""
    async with TextNodeClient(url, timeout=60) as node:
        document, budget = await node.document(), await node.budget()
        edits, after = [], 0
        while after < document.version:
            page = (await node.edits(after_version=after, limit=MAX_EDIT_PAGE)).edits
            if not page:
                break
            edits += [e for e in page if e.version <= document.version]
            after = page[-1].version
        limit = asyncio.Semaphore(PARALLEL)

        async def text_of(version: int) -> str:
            async with limit:
                return (await node.version_text(version)).text

        texts = await asyncio.gather(*(text_of(v) for v in range(document.version + 1)))
    by_version = {e.version: e.model_dump(mode="json") for e in edits}
    versions = [{"version": v, "edit": by_version.get(v), "text": t} for v, t in enumerate(texts)]
    return {"document": document.model_dump(), "budget": budget.model_dump(), "versions": versions}


def render_json(session: SessionConfig, history: dict) -> str:
    return json.dumps({
        "session": session.model_dump(exclude={"auth_token"}),
        "exported_at": datetime.now(timezone.utc).isoformat(),
        "document": {"version": history["document"]["version"], "text": history["document"]["text"]},
        "budget": {k: history["budget"][k] for k in ("limit", "spent")},
        "versions": history["versions"],
    }, ensure_ascii=False, indent=2) + "\n"


def fenced(text: str) -> str:
    """A Markdown code block that holds `text` verbatim, whatever backticks it contains."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def describe(edit: dict | None) -> str:
    if edit is None:
        return "the initial text"
    op = edit.get("op") or {}
    parts = [edit.get("agent_id") or "?", op.get("type") or "?"]
    if op.get("anchor"):
        parts.append(f"«{op['anchor'][:60]}»")
    line = " · ".join(parts)
    if edit.get("summary"):
        line += f" — {edit['summary']}"
    details = [f"edit `{edit['edit_id']}`"]
    if edit.get("intent_id"):
        details.append(f"intent `{edit['intent_id']}`")
    details += [f"node {edit.get('node_id')}", str(edit.get("created_at") or "")]
    return f"{line}\n\n{', '.join(d for d in details if d)}"


def render_markdown(session: SessionConfig, history: dict) -> str:
    document, budget = history["document"], history["budget"]
    out = [
        f"# {session.topic or session.session_name}", "",
        document["text"], "",
        "---", "",
        f"Version {document['version']}; {budget['spent']:,} of {budget['limit']:,} tokens spent.", "",
        "## History", "",
    ]
    for entry in history["versions"]:
        out += [f"### Version {entry['version']}", "", describe(entry["edit"]), "",
                fenced(entry["text"]), ""]
    return "\n".join(out)
