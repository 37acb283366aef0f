"""The fake model's answers: pure functions of the request and a seeded random
generator. The phase comes from the `phase: <name>` marker, the material from the
tagged sections the agent sends (see coedit.common.agent_protocol): the numbered
sentences of `<document>`, the others' claims by sentence number."""

import json
import random
import re

from coedit.common.agent_protocol import (
    CLAIMED,
    DOCUMENT,
    INTENT,
    OPERATION,
    Phase,
    detect_language,
    find_phase,
    read_numbered,
    read_section,
)
from coedit.fake_llm import corpus

REJECT_RATE = 0.1


def _json_section(text: str, tag: str, default):
    body = read_section(text, tag)
    try:
        value = default if body is None else json.loads(body)
    except json.JSONDecodeError:
        return default
    return value if isinstance(value, type(default)) else default


def _is_placeholder(sentence: str) -> bool:
    return sentence in corpus.PLACEHOLDERS


def _claimed_numbers(claimed: list) -> set[int]:
    return {n for c in claimed if isinstance(c, dict) for n in c.get("sentences", []) if isinstance(n, int)}


def _valid(number, lines: list[str]) -> bool:
    return isinstance(number, int) and 1 <= number <= len(lines)


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


def _intent(lines: list[str], claimed: list, language: str, rng: random.Random) -> dict:
    taken = _claimed_numbers(claimed)
    free = [n for n in range(1, len(lines) + 1) if n not in taken] or list(range(1, len(lines) + 1)) or [1]
    placeholders = [n for n in free if _is_placeholder(lines[n - 1])]
    if placeholders and rng.random() < 0.5:  # the seed's agents removed it early on
        return {"sentence": placeholders[0], "summary": rng.choice(corpus.SUMMARIES[language]["drop"])}
    kind = "rewrite" if rng.random() < 0.3 else "add"
    return {"sentence": rng.choice(free), "summary": rng.choice(corpus.SUMMARIES[language][kind])}


def _confirm(lines: list[str], claimed: list, intent: dict, language: str) -> dict:
    number = intent.get("sentence")
    ok = _valid(number, lines) and number not in _claimed_numbers(claimed)
    return {"confirm": ok, "reason": corpus.CONFIRM_REASONS[language][ok]}


def _generate(lines: list[str], intent: dict, language: str, rng: random.Random) -> dict:
    number = intent.get("sentence")
    if not _valid(number, lines):
        number = rng.randint(1, max(1, len(lines)))
    anchor = lines[number - 1] if lines else ""
    document = " ".join(lines)
    if _is_placeholder(anchor):
        return {"type": "replace", "sentence": number, "text": rng.choice(corpus.OPENINGS[language])}
    if intent.get("summary") in corpus.SUMMARIES[language]["rewrite"]:
        return {"type": "replace", "sentence": number, "text": _rewrite(anchor, language, rng)}
    return {"type": "insert_after", "sentence": number, "text": _new_sentence(document, language, rng)}


def _review(lines: list[str], operation: dict, language: str, rng: random.Random) -> dict:
    op_type, text = operation.get("type", ""), operation.get("text", "")
    ok = _valid(operation.get("sentence"), lines) and (bool(text) or op_type == "delete")
    ok = ok and rng.random() >= REJECT_RATE
    return {"approve": ok, "reason": rng.choice(corpus.REVIEW_REASONS[language][ok])}


def answer(messages: list[dict], rng: random.Random) -> str:
    """The reply's content: JSON for a protocol phase, a story sentence otherwise."""
    system = "\n".join(m["content"] for m in messages if m.get("role") == "system")
    user = "\n".join(m["content"] for m in messages if m.get("role") != "system")
    body = read_section(user, DOCUMENT)
    lines = read_numbered(body) if body is not None else []
    language = detect_language(" ".join(lines) or user)
    claimed = _json_section(user, CLAIMED, [])
    intent = _json_section(user, INTENT, {})
    phase = find_phase(system) if lines else None
    match phase:
        case Phase.INTENT:
            reply = _intent(lines, claimed, language, rng)
        case Phase.CONFIRM:
            reply = _confirm(lines, claimed, intent, language)
        case Phase.GENERATE:
            reply = _generate(lines, intent, language, rng)
        case Phase.REVIEW:
            reply = _review(lines, _json_section(user, OPERATION, {}), language, rng)
        case None:
            return _new_sentence(user, language, rng)
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


def prose(content: str, language: str) -> str:
    """What a small model writes when it ignores "answer with JSON": the answer's
    values in a sentence, no JSON object anywhere."""
    try:
        values = [str(v) for v in json.loads(content).values()]
    except (json.JSONDecodeError, AttributeError):
        return content
    lead = "Конечно! Мой ответ" if language == "ru" else "Sure! My answer is"
    return f"{lead}: {', '.join(values)}."


def ramble(language: str, tokens: int, rng: random.Random) -> str:
    """About `tokens` tokens of text that goes on and on (about 4 UTF-8 bytes a token)."""
    words, size = [], 0
    while size < tokens * 4:
        sentence = " " + rng.choice(corpus.SENTENCES[language])
        words.append(sentence)
        size += len(sentence.encode())
    return "".join(words)
