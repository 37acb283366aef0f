"""The fake model's answers: pure functions of the request and a seeded random
generator. The phase comes from the `phase: <name>` marker, the material from the
tagged sections the agent sends (see coedit.agent.protocol)."""

import json
import random
import re

from coedit.agent.context import sentences
from coedit.agent.prompts import detect_language
from coedit.agent.protocol import CLAIMED, DOCUMENT, INTENT, OPERATION, Phase, find_phase, read_section
from coedit.fake_llm import corpus

REJECT_RATE = 0.1


def _json_section(text: str, tag: str, default):
    body = read_section(text, tag)
    try:
        return default if body is None else json.loads(body)
    except json.JSONDecodeError:
        return default


def _sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentences(text)]


def _is_placeholder(sentence: str) -> bool:
    return sentence in corpus.PLACEHOLDERS


def _claims(anchor: str, claimed: list) -> bool:
    others = [c.get("anchor", "") for c in claimed if isinstance(c, dict)]
    return any(other and (other in anchor or anchor in other) for other in others)


def _rewrite(sentence: str, language: str, rng: random.Random) -> str:
    body = sentence.rstrip(".!?…")
    ending = sentence[len(body):] or "."
    return body + rng.choice(corpus.EMBELLISHMENTS[language]) + ending


def _composed(language: str, rng: random.Random) -> str:
    name, ending = rng.choice(corpus.CHARACTERS[language])
    deed = rng.choice(corpus.DEEDS[language]).format(a=ending)
    extra = rng.choice(corpus.EMBELLISHMENTS[language][: corpus.ANY_SUBJECT] + [""])
    return f"{name} {deed}{extra}."


def _new_sentence(document: str, language: str, rng: random.Random) -> str:
    """A story sentence not in the excerpt: from the corpus, or composed (hundreds of
    variants), so that agents who see different excerpts rarely write the same one."""
    fresh = [s for s in corpus.SENTENCES[language] if s not in document]
    if fresh and rng.random() < 0.15:
        return rng.choice(fresh)
    sentence = _composed(language, rng)
    return sentence if sentence not in document else _rewrite(sentence, language, rng)


def _intent(document: str, claimed: list, language: str, rng: random.Random) -> dict:
    options = _sentences(document)
    free = [s for s in options if not _claims(s, claimed)] or options or [document]
    placeholders = [s for s in free if _is_placeholder(s)]
    if placeholders and rng.random() < 0.5:  # the seed's agents removed it early on
        return {"anchor": placeholders[0], "summary": rng.choice(corpus.SUMMARIES[language]["drop"])}
    anchor = rng.choice(free)
    kind = "rewrite" if rng.random() < 0.3 else "add"
    return {"anchor": anchor, "summary": rng.choice(corpus.SUMMARIES[language][kind])}


def _confirm(document: str, claimed: list, intent: dict, language: str) -> dict:
    anchor = intent.get("anchor", "")
    ok = bool(anchor) and anchor in document and not _claims(anchor, claimed)
    return {"confirm": ok, "reason": corpus.CONFIRM_REASONS[language][ok]}


def _generate(document: str, intent: dict, language: str, rng: random.Random) -> dict:
    anchor = intent.get("anchor", "")
    if anchor not in document or not anchor:
        anchor = rng.choice(_sentences(document) or [document])
    summary = intent.get("summary", "")
    if _is_placeholder(anchor):
        return {"type": "replace", "anchor": anchor, "text": rng.choice(corpus.OPENINGS[language])}
    if summary in corpus.SUMMARIES[language]["rewrite"]:
        return {"type": "replace", "anchor": anchor, "text": _rewrite(anchor, language, rng)}
    return {"type": "insert_after", "anchor": anchor, "text": " " + _new_sentence(document, language, rng)}


def _review(document: str, operation: dict, language: str, rng: random.Random) -> dict:
    op_type, anchor, text = (operation.get(k, "") for k in ("type", "anchor", "text"))
    ok = (op_type == "append" or anchor in document) and (bool(text) or op_type == "delete")
    ok = ok and rng.random() >= REJECT_RATE
    return {"approve": ok, "reason": rng.choice(corpus.REVIEW_REASONS[language][ok])}


def answer(messages: list[dict], rng: random.Random) -> str:
    """The reply's content: JSON for a protocol phase, a story sentence otherwise."""
    system = "\n".join(m["content"] for m in messages if m.get("role") == "system")
    user = "\n".join(m["content"] for m in messages if m.get("role") != "system")
    document = read_section(user, DOCUMENT) or user
    language = detect_language(document)
    claimed = _json_section(user, CLAIMED, [])
    intent = _json_section(user, INTENT, {})
    match find_phase(system):
        case Phase.INTENT:
            reply = _intent(document, claimed, language, rng)
        case Phase.CONFIRM:
            reply = _confirm(document, claimed, intent, language)
        case Phase.GENERATE:
            reply = _generate(document, intent, language, rng)
        case Phase.REVIEW:
            reply = _review(document, _json_section(user, OPERATION, {}), language, rng)
        case None:
            return _new_sentence(document, language, rng)
    return json.dumps(reply, ensure_ascii=False)


def corrupt(content: str, rng: random.Random) -> str:
    """Broken JSON the way real models break it; the last kind cannot be repaired."""
    kind = rng.randrange(4)
    if kind == 0:
        return f"Sure! Here is my answer:\n```json\n{content}\n```"
    if kind == 1:
        return re.sub(r"}$", ",}", content).replace('"', "'")
    if kind == 2:
        return content[: max(1, len(content) * 2 // 3)]
    return "I think this is a good idea, let me know what you think."
