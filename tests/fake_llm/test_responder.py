import json
import random

import jsonschema

from coedit.common.agent_protocol import (
    DOCUMENT,
    Phase,
    numbered,
    phase_marker,
    reply_schema,
    section,
    sentences,
)
from coedit.fake_llm import corpus
from coedit.fake_llm.responder import REJECT_RATE, answer, corrupt

SEED_TEXT = (
    "Документ начинается здесь. В далёком XXIII веке, когда над городами тихо проплывали "
    "орбитальные станции, детям всё равно было немного страшно в темноте. Роботы-няни читали "
    "им сказки про космос. Что значит быть «хорошим человеком»?"
)
EN_TEXT = "The robots lived in a quiet city. They read stories to children. Nobody knew why."


def lines(text):
    return [text[s:e] for s, e in sentences(text)]


def build(phase, text, **sections):
    """A request as the agent words it: the marker, the numbered sentences, JSON sections."""
    user = [section(DOCUMENT, numbered(lines(text)))]
    user += [section(tag, json.dumps(value, ensure_ascii=False)) for tag, value in sections.items()]
    return [{"role": "system", "content": phase_marker(phase) + "\nYou are a co-author."},
            {"role": "user", "content": "\n".join(user)}]


def ask(messages, seed=0):
    return answer(messages, random.Random(seed))


def test_intent_names_a_real_sentence_often_the_placeholder():
    replies = [json.loads(ask(build(Phase.INTENT, SEED_TEXT), seed)) for seed in range(20)]
    assert all(1 <= r["sentence"] <= len(lines(SEED_TEXT)) for r in replies)
    drops = [r for r in replies if r["sentence"] == 1]
    assert 0 < len(drops) < 20 and any(r["summary"] in corpus.SUMMARIES["ru"]["drop"] for r in drops)


def test_intent_avoids_sentences_others_claimed():
    claimed = [{"agent_id": "b", "sentences": [1, 2], "summary": "x"}]
    for seed in range(10):
        reply = json.loads(ask(build(Phase.INTENT, EN_TEXT, claimed=claimed), seed))
        assert reply["sentence"] == 3


def test_answers_are_deterministic_for_a_seed_and_vary_across_seeds():
    messages = build(Phase.INTENT, EN_TEXT)
    assert ask(messages, 1) == ask(messages, 1)
    assert len({ask(messages, seed) for seed in range(20)}) > 1


def test_generate_inserts_a_new_sentence_after_the_intents_one():
    intent = {"sentence": 2, "summary": "add a detail after this sentence"}
    op = json.loads(ask(build(Phase.GENERATE, EN_TEXT, intent=intent)))
    assert op["type"] == "insert_after" and op["sentence"] == 2
    assert op["text"].endswith(".") and op["text"] not in EN_TEXT


def test_generate_rewrites_or_replaces_the_placeholder():
    intent = {"sentence": 3, "summary": corpus.SUMMARIES["en"]["rewrite"][0]}
    op = json.loads(ask(build(Phase.GENERATE, EN_TEXT, intent=intent)))
    assert op["type"] == "replace" and op["text"].startswith("Nobody knew why") and op["text"] != "Nobody knew why."
    intent = {"sentence": 1, "summary": "убрать заглушку в начале"}
    op = json.loads(ask(build(Phase.GENERATE, SEED_TEXT, intent=intent)))
    assert op["type"] == "replace" and op["text"] in corpus.OPENINGS["ru"]


def test_confirm_refuses_a_claimed_or_missing_sentence():
    intent = {"sentence": 3, "summary": "x"}
    ok = json.loads(ask(build(Phase.CONFIRM, EN_TEXT, intent=intent)))
    assert ok["confirm"] is True
    claimed = [{"agent_id": "b", "sentences": [3], "summary": "y"}]
    taken = json.loads(ask(build(Phase.CONFIRM, EN_TEXT, claimed=claimed, intent=intent)))
    assert taken["confirm"] is False
    gone = {"sentence": 9, "summary": "x"}
    assert json.loads(ask(build(Phase.CONFIRM, EN_TEXT, intent=gone)))["confirm"] is False


def test_review_rejects_sometimes_and_always_rejects_a_missing_sentence():
    op = {"type": "insert_after", "sentence": 3, "text": "Then they knew."}
    verdicts = [
        json.loads(ask(build(Phase.REVIEW, EN_TEXT, operation=op), seed))["approve"]
        for seed in range(200)
    ]
    rejected = verdicts.count(False) / len(verdicts)
    assert 0.5 * REJECT_RATE < rejected < 2 * REJECT_RATE
    bad = {**op, "sentence": 7}
    for seed in range(5):
        assert json.loads(ask(build(Phase.REVIEW, EN_TEXT, operation=bad), seed))["approve"] is False


def test_without_a_phase_marker_it_writes_prose():
    reply = ask([{"role": "user", "content": "Continue: " + EN_TEXT}])
    assert not reply.startswith("{") and reply.rstrip(".!?…") != ""


def test_corrupt_breaks_the_json():
    content = json.dumps({"approve": True, "reason": "fine"})
    broken = {corrupt(content, random.Random(seed)) for seed in range(20)}
    assert content not in broken and len(broken) >= 3


def test_every_answer_fits_its_phase_schema():
    requests = {
        Phase.INTENT: build(Phase.INTENT, SEED_TEXT),
        Phase.CONFIRM: build(Phase.CONFIRM, EN_TEXT, intent={"sentence": 1, "summary": "x"}),
        Phase.GENERATE: build(Phase.GENERATE, EN_TEXT, intent={"sentence": 2, "summary": "x"}),
        Phase.REVIEW: build(Phase.REVIEW, EN_TEXT, operation={"type": "delete", "sentence": 1, "text": ""}),
    }
    for phase, messages in requests.items():
        for seed in range(5):
            jsonschema.validate(json.loads(ask(messages, seed)), reply_schema(phase))
