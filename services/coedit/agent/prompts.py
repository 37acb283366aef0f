"""Every prompt the agent sends, in the document's language. Each system prompt
starts with the phase marker (see protocol.py); each user prompt holds only what
that phase needs: an excerpt, the others' intents near it, this agent's intent."""

import json
import re
from dataclasses import dataclass

from coedit.agent.context import Excerpt
from coedit.agent.protocol import (
    AFTER,
    CLAIMED,
    DOCUMENT,
    INTENT,
    OPERATION,
    Phase,
    phase_marker,
    section,
)

Messages = list[dict[str, str]]


def detect_language(text: str) -> str:
    """"ru" when at least a third of the letters are Cyrillic, else "en"."""
    letters = re.findall(r"[^\W\d_]", text)
    cyrillic = sum("а" <= c.lower() <= "я" or c.lower() == "ё" for c in letters)
    return "ru" if letters and cyrillic * 3 >= len(letters) else "en"


@dataclass(frozen=True)
class Author:
    """Who is writing: fills the common head of every system prompt."""

    agent_id: str
    persona: str
    topic: str
    language: str  # "ru" or "en"


_HEAD = {
    "en": (
        "You are {persona} (agent {agent_id}), one of several AI co-authors writing one "
        "document at the same time.\nTopic: {topic}\nMake small, local, well-written changes "
        "that keep the text coherent. Write in English."
    ),
    "ru": (
        "Ты — {persona} (агент {agent_id}), один из нескольких ИИ-соавторов, которые "
        "одновременно пишут один документ.\nТема: {topic}\nДелай небольшие точечные правки, "
        "хорошо написанные и не ломающие связность текста. Пиши по-русски."
    ),
}

_TASK = {
    "en": {
        Phase.INTENT: (
            "Choose ONE small improvement in the excerpt in <document>: a new sentence after "
            "an existing one, or a better version of a weak sentence. Never choose a place "
            "another agent has claimed (<claimed>). The anchor is the place: copy it exactly, "
            "character for character, from <document>; one whole sentence is best.\n"
            'Answer with JSON only: {"anchor": "...", "summary": "what you will do, under 15 words"}'
        ),
        Phase.CONFIRM: (
            "You announced the intent in <intent>; meanwhile the text and the others' intents "
            "(<claimed>) may have changed. Confirm only if nobody else claims the same place "
            "and the change is not already in the text.\n"
            'Answer with JSON only: {"confirm": true or false, "reason": "..."}'
        ),
        Phase.GENERATE: (
            "Write the change announced in <intent>. Operation types: insert_after or "
            "insert_before (add text next to the anchor; begin or end it with a space), "
            "replace (the anchor becomes the text), delete (remove the anchor). Copy the "
            "anchor exactly from <document>. Add at most two sentences.\n"
            'Answer with JSON only: {"type": "...", "anchor": "...", "text": "..."}'
        ),
        Phase.REVIEW: (
            "Review a proposed change: <document> is the text before it, <operation> the "
            "change, <after> the text after it. Approve if it fits the topic, reads well and "
            "keeps the story coherent; reject otherwise.\n"
            'Answer with JSON only: {"approve": true or false, "reason": "..."}'
        ),
    },
    "ru": {
        Phase.INTENT: (
            "Выбери ОДНО небольшое улучшение во фрагменте из <document>: новое предложение "
            "после существующего или более удачную версию слабого предложения. Не выбирай "
            "место, которое уже заняли другие агенты (<claimed>). Якорь (anchor) — это место "
            "правки: скопируй его из <document> точно, символ в символ; лучше всего одно "
            "целое предложение.\n"
            'Ответь только JSON: {"anchor": "...", "summary": "что ты сделаешь, до 15 слов"}'
        ),
        Phase.CONFIRM: (
            "Ты объявил намерение из <intent>; с тех пор текст и намерения других (<claimed>) "
            "могли измениться. Подтверждай, только если никто другой не занял это же место "
            "и такой правки ещё нет в тексте.\n"
            'Ответь только JSON: {"confirm": true или false, "reason": "..."}'
        ),
        Phase.GENERATE: (
            "Напиши правку, объявленную в <intent>. Типы операций: insert_after или "
            "insert_before (добавить текст рядом с якорем; начни или закончи его пробелом), "
            "replace (якорь заменяется текстом), delete (удалить якорь). Якорь скопируй "
            "точно из <document>. Добавь не больше двух предложений.\n"
            'Ответь только JSON: {"type": "...", "anchor": "...", "text": "..."}'
        ),
        Phase.REVIEW: (
            "Проверь предложенную правку: <document> — текст до неё, <operation> — правка, "
            "<after> — текст после. Одобри, если она соответствует теме, хорошо написана и "
            "сохраняет связность рассказа; иначе отклони.\n"
            'Ответь только JSON: {"approve": true или false, "reason": "..."}'
        ),
    },
}

_EXCERPT_NOTE = {
    "en": "(an excerpt: the document continues{where})",
    "ru": "(фрагмент: документ продолжается{where})",
}
_WHERE = {
    "en": {(True, True): " before and after it", (True, False): " before it", (False, True): " after it"},
    "ru": {(True, True): " до и после него", (True, False): " до него", (False, True): " после него"},
}


def _document(excerpt: Excerpt, language: str) -> str:
    text = section(DOCUMENT, excerpt.text)
    if excerpt.is_whole:
        return text
    where = _WHERE[language][(excerpt.start > 0, excerpt.end < excerpt.total)]
    return _EXCERPT_NOTE[language].format(where=where) + "\n" + text


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def build(
    phase: Phase,
    author: Author,
    document: Excerpt,
    *,
    claimed: list[dict] = (),
    intent: dict | None = None,
    operation: dict | None = None,
    after: str | None = None,
) -> Messages:
    """The chat messages for one phase. `claimed` holds the others' open intents
    ({agent_id, anchor, summary}) that touch the excerpt."""
    system = "\n".join(
        [
            phase_marker(phase),
            _HEAD[author.language].format(
                persona=author.persona, agent_id=author.agent_id, topic=author.topic or "-"
            ),
            _TASK[author.language][phase],
        ]
    )
    parts = [_document(document, author.language)]
    if phase in (Phase.INTENT, Phase.CONFIRM):
        parts.append(section(CLAIMED, _json(list(claimed))))
    if intent is not None:
        parts.append(section(INTENT, _json(intent)))
    if operation is not None:
        parts.append(section(OPERATION, _json(operation)))
    if after is not None:
        parts.append(section(AFTER, after))
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(parts)}]
