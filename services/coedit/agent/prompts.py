"""Every prompt the agent sends, in the document's language, written for the smallest
model that may read it: short plain instructions, the excerpt shown as
numbered sentences (the model answers a number; the agent turns it into the exact
anchor), one short example answer per phase. Each system prompt starts with the
phase marker; each user prompt holds only what that phase needs (see
coedit.common.agent_protocol)."""

import json
from dataclasses import dataclass, replace

from coedit.common.agent_protocol import (
    AFTER,
    CLAIMED,
    DOCUMENT,
    INTENT,
    OPERATION,
    PEOPLE,
    Phase,
    numbered,
    phase_marker,
    reply_schema,
    section,
)
from coedit.common.passages import Excerpt
from coedit.common.tokens import estimate_tokens, prompt_token_bound

Messages = list[dict[str, str]]

# The most a phase's answer may take: an intent is a line, an operation two sentences.
MAX_TOKENS = {Phase.INTENT: 96, Phase.CONFIRM: 64, Phase.GENERATE: 256, Phase.REVIEW: 64}


@dataclass(frozen=True)
class Author:
    """Who is writing: fills the common head of every system prompt."""

    agent_id: str
    persona: str
    topic: str
    language: str  # "ru" or "en"


@dataclass(frozen=True)
class Prompt:
    """One model call, complete before it is made: the messages, what the answer
    must look like, and how many tokens the call can cost at most."""

    phase: Phase
    messages: Messages
    lines: list[str]  # the numbered sentences shown, to read the answer's number
    choices: list[int] | None = None  # the sentence numbers the answer may name

    def schema(self, lengths: bool = False) -> dict:
        return reply_schema(self.phase, self.choices, lengths)

    @property
    def max_tokens(self) -> int:
        return MAX_TOKENS[self.phase]

    @property
    def prompt_tokens(self) -> int:
        """The prompt's size, estimated as the API counts it (4 tokens a message, 3 a reply)."""
        return sum(estimate_tokens(m["content"]) + 4 for m in self.messages) + 3

    @property
    def prompt_token_bound(self) -> int:
        """The most the prompt can count, whatever the model's tokenizer (see
        coedit.common.tokens), with the largest schema a request may carry."""
        return prompt_token_bound(self.messages, json.dumps(self.schema(lengths=True)))

    @property
    def max_total_tokens(self) -> int:
        """The upper bound of the call's cost: what a budget reserves before making it."""
        return self.prompt_token_bound + self.max_tokens

    def followed_by(self, message: dict[str, str]) -> "Prompt":
        return replace(self, messages=[*self.messages, message])


_HEAD = {
    "en": "You are {persona} (agent {agent_id}), one of several AI co-authors of one document.\n"
          "Topic: {topic}\nWrite in English.",
    "ru": "Ты — {persona} (агент {agent_id}), один из ИИ-соавторов общего документа.\n"
          "Тема: {topic}\nПиши по-русски.",
}

_TASK = {
    "en": {
        Phase.INTENT: (
            "<document> shows sentences of the document, each with its number.\n"
            "Choose one sentence to improve: you will add a new sentence after it or rewrite it.\n"
            "Do not choose a sentence listed in <claimed>: others are working there.\n"
            "Answer with a JSON object: the sentence number and the change in under 15 words.\n"
            'Example: {"sentence": 2, "summary": "add what the robot felt"}'
        ),
        Phase.CONFIRM: (
            "<intent> is your plan for a sentence of <document>. The text around it has changed.\n"
            "Confirm the plan unless the change is already made or someone in <claimed> plans the same.\n"
            "Answer with a JSON object.\n"
            'Example: {"confirm": true, "reason": "the sentence still needs it"}'
        ),
        Phase.GENERATE: (
            "Write the change planned in <intent>, at the sentence it names.\n"
            'The type "insert_after" adds the text after the sentence, "insert_before" before it, '
            '"replace" rewrites the sentence as the text, "delete" removes it.\n'
            "The text is at most two sentences that fit the story, or empty for delete.\n"
            "Answer with a JSON object.\n"
            'Example: {"type": "insert_after", "sentence": 2, "text": "The robot smiled for the first time."}'
        ),
        Phase.REVIEW: (
            "<operation> is a proposed change of <document>; <after> shows the text with it.\n"
            "Approve it unless it leaves the topic, repeats the text or breaks the story.\n"
            "Answer with a JSON object.\n"
            'Example: {"approve": true, "reason": "it continues the story"}'
        ),
    },
    "ru": {
        Phase.INTENT: (
            "В <document> — предложения документа, у каждого свой номер.\n"
            "Выбери одно предложение, которое улучшишь: добавишь после него новое или перепишешь его.\n"
            "Не выбирай предложение из <claimed>: там работают другие.\n"
            "Ответь JSON-объектом: номер предложения и правка, не больше 15 слов.\n"
            'Пример: {"sentence": 2, "summary": "добавить, что почувствовал робот"}'
        ),
        Phase.CONFIRM: (
            "<intent> — твой план для предложения из <document>. Текст вокруг него изменился.\n"
            "Подтверди план, если такой правки ещё нет и никто в <claimed> не планирует то же.\n"
            "Ответь JSON-объектом.\n"
            'Пример: {"confirm": true, "reason": "предложению это всё ещё нужно"}'
        ),
        Phase.GENERATE: (
            "Напиши правку из <intent> у предложения с указанным номером.\n"
            'Тип "insert_after" добавляет текст после предложения, "insert_before" — перед ним, '
            '"replace" заменяет предложение текстом, "delete" удаляет его.\n'
            "Текст — не больше двух предложений в духе рассказа, для delete пустой.\n"
            "Ответь JSON-объектом.\n"
            'Пример: {"type": "insert_after", "sentence": 2, "text": "Робот впервые улыбнулся."}'
        ),
        Phase.REVIEW: (
            "<operation> — предложенная правка <document>; в <after> текст с ней.\n"
            "Одобри, если правка не уходит от темы, не повторяет текст и не ломает рассказ.\n"
            "Ответь JSON-объектом.\n"
            'Пример: {"approve": true, "reason": "продолжает рассказ"}'
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
    text = section(DOCUMENT, numbered(excerpt.lines))
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
    choices: list[int] | None = None,
    claimed: list[dict] = (),
    intent: dict | None = None,
    operation: dict | None = None,
    after: str | None = None,
) -> Prompt:
    """The prompt for one phase. `claimed` holds the others' open intents in the
    excerpt ({agent_id, sentences, summary}, sentences by number); `choices` the
    sentence numbers the answer may name."""
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
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(parts)}]
    return Prompt(phase, messages, document.lines, choices)


_PEOPLE_NOTE = {
    "en": "People in the session wrote to you in <people>: their word outranks the topic.",
    "ru": "Люди в сессии написали вам в <people>: их слово важнее темы.",
}


def with_people(prompt: Prompt, people: list[dict], language: str) -> Prompt:
    """`prompt` with the latest people's chat messages ({name, text}, oldest first)
    added: a note in the system prompt, the messages as a section."""
    if not people:
        return prompt
    system, user, *rest = prompt.messages
    return replace(prompt, messages=[
        {**system, "content": system["content"] + "\n" + _PEOPLE_NOTE[language]},
        {**user, "content": user["content"] + "\n" + section(PEOPLE, _json(people))},
        *rest,
    ])
