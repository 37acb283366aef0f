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
    PEOPLE,
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
    "en": "You are {persona} (agent {agent_id}), one of several AI co-authors of one document.\n"
          "Topic: {topic}\nWrite in English.",
    "ru": "Ты — {persona} (агент {agent_id}), один из ИИ-соавторов общего документа.\n"
          "Тема: {topic}\nПиши по-русски.",
}

_TASK = {
    "en": {
        Phase.INTENT: (
            "Pick ONE small improvement in <document>: a new sentence after a sentence, or a "
            "better version of a weak one. Not a place in <claimed>. anchor: one sentence "
            "copied exactly from <document>.\n"
            'JSON only: {"anchor": "...", "summary": "under 15 words"}'
        ),
        Phase.CONFIRM: (
            "The text around your <intent> changed. Confirm if nobody in <claimed> has the "
            "same place and the change is not already there.\n"
            'JSON only: {"confirm": true|false, "reason": "..."}'
        ),
        Phase.GENERATE: (
            "Write the change in <intent>. type: insert_after|insert_before (text with a "
            "leading/trailing space), replace (anchor becomes text), delete. anchor copied "
            "exactly from <document>. At most two sentences.\n"
            'JSON only: {"type": "...", "anchor": "...", "text": "..."}'
        ),
        Phase.REVIEW: (
            "Review <operation>: <document> before, <after> after. Approve if it fits the "
            "topic, reads well and keeps the story coherent.\n"
            'JSON only: {"approve": true|false, "reason": "..."}'
        ),
    },
    "ru": {
        Phase.INTENT: (
            "Выбери ОДНО небольшое улучшение в <document>: новое предложение после "
            "существующего или лучшую версию слабого. Не место из <claimed>. anchor — одно "
            "предложение, скопированное из <document> точно.\n"
            'Только JSON: {"anchor": "...", "summary": "до 15 слов"}'
        ),
        Phase.CONFIRM: (
            "Текст вокруг твоего <intent> изменился. Подтверди, если никто в <claimed> не "
            "занял это место и такой правки ещё нет.\n"
            'Только JSON: {"confirm": true|false, "reason": "..."}'
        ),
        Phase.GENERATE: (
            "Напиши правку из <intent>. type: insert_after|insert_before (текст с пробелом "
            "в начале/конце), replace (якорь заменяется текстом), delete. anchor скопируй "
            "точно из <document>. Не больше двух предложений.\n"
            'Только JSON: {"type": "...", "anchor": "...", "text": "..."}'
        ),
        Phase.REVIEW: (
            "Оцени <operation>: <document> — до, <after> — после. Одобри, если правка в теме, "
            "хорошо написана и не ломает связность.\n"
            'Только JSON: {"approve": true|false, "reason": "..."}'
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


_PEOPLE_NOTE = {
    "en": "People in the session wrote to you in <people>: their word outranks the topic.",
    "ru": "Люди в сессии написали вам в <people>: их слово важнее темы.",
}


def with_people(messages: Messages, people: list[dict], language: str) -> Messages:
    """`messages` with the latest people's chat messages ({name, text}, oldest
    first) added: a note in the system prompt, the messages as a section."""
    if not people:
        return messages
    system, user, *rest = messages
    return [
        {**system, "content": system["content"] + "\n" + _PEOPLE_NOTE[language]},
        {**user, "content": user["content"] + "\n" + section(PEOPLE, _json(people))},
        *rest,
    ]
