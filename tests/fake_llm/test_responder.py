import json
import random

from coedit.agent.context import excerpt
from coedit.agent.prompts import Author, build
from coedit.agent.protocol import Phase
from coedit.fake_llm import corpus
from coedit.fake_llm.responder import REJECT_RATE, answer, corrupt

SEED_TEXT = (
    "Документ начинается здесь. В далёком XXIII веке, когда над городами тихо проплывали "
    "орбитальные станции, детям всё равно было немного страшно в темноте. Роботы-няни читали "
    "им сказки про космос. Что значит быть «хорошим человеком»?"
)
EN_TEXT = "The robots lived in a quiet city. They read stories to children. Nobody knew why."
RU = Author("a1", "сюжетник", "рассказ про роботов", "ru")
EN = Author("a1", "a plotter", "a story about robots", "en")


def ask(messages, seed=0):
    return answer(messages, random.Random(seed))


def whole(text):
    return excerpt(text, 0, len(text))


def test_intent_names_a_real_sentence_often_the_placeholder():
    replies = [json.loads(ask(build(Phase.INTENT, RU, whole(SEED_TEXT)), seed)) for seed in range(20)]
    assert all(r["anchor"] in SEED_TEXT for r in replies)
    drops = [r for r in replies if r["anchor"] == "Документ начинается здесь."]
    assert 0 < len(drops) < 20 and any(r["summary"] in corpus.SUMMARIES["ru"]["drop"] for r in drops)


def test_intent_avoids_anchors_others_claimed():
    sentences = ["The robots lived in a quiet city.", "They read stories to children."]
    claimed = [{"agent_id": "b", "anchor": s, "summary": "x"} for s in sentences]
    for seed in range(10):
        reply = json.loads(ask(build(Phase.INTENT, EN, whole(EN_TEXT), claimed=claimed), seed))
        assert reply["anchor"] == "Nobody knew why."


def test_answers_are_deterministic_for_a_seed_and_vary_across_seeds():
    messages = build(Phase.INTENT, EN, whole(EN_TEXT))
    assert ask(messages, 1) == ask(messages, 1)
    assert len({ask(messages, seed) for seed in range(20)}) > 1


def test_generate_inserts_a_corpus_sentence_after_the_anchor():
    intent = {"anchor": "They read stories to children.", "summary": "add a detail after this sentence"}
    op = json.loads(ask(build(Phase.GENERATE, EN, whole(EN_TEXT), intent=intent)))
    assert op["type"] == "insert_after" and op["anchor"] == intent["anchor"]
    assert op["text"].startswith(" ") and op["text"] not in EN_TEXT


def test_generate_rewrites_or_replaces_the_placeholder():
    intent = {"anchor": "Nobody knew why.", "summary": corpus.SUMMARIES["en"]["rewrite"][0]}
    op = json.loads(ask(build(Phase.GENERATE, EN, whole(EN_TEXT), intent=intent)))
    assert op["type"] == "replace" and op["text"].startswith("Nobody knew why") and op["text"] != op["anchor"]
    intent = {"anchor": "Документ начинается здесь.", "summary": "убрать заглушку в начале"}
    op = json.loads(ask(build(Phase.GENERATE, RU, whole(SEED_TEXT), intent=intent)))
    assert op["type"] == "replace" and op["text"] in corpus.OPENINGS["ru"]


def test_confirm_refuses_a_claimed_or_vanished_anchor():
    intent = {"anchor": "Nobody knew why.", "summary": "x"}
    ok = json.loads(ask(build(Phase.CONFIRM, EN, whole(EN_TEXT), intent=intent)))
    assert ok["confirm"] is True
    claimed = [{"agent_id": "b", "anchor": "Nobody knew why.", "summary": "y"}]
    taken = json.loads(ask(build(Phase.CONFIRM, EN, whole(EN_TEXT), claimed=claimed, intent=intent)))
    assert taken["confirm"] is False
    gone = {"anchor": "Not in the text.", "summary": "x"}
    assert json.loads(ask(build(Phase.CONFIRM, EN, whole(EN_TEXT), intent=gone)))["confirm"] is False


def test_review_rejects_sometimes_and_always_rejects_a_missing_anchor():
    op = {"type": "insert_after", "anchor": "Nobody knew why.", "text": " Then they knew."}
    verdicts = [
        json.loads(ask(build(Phase.REVIEW, EN, whole(EN_TEXT), operation=op, after="x"), seed))["approve"]
        for seed in range(200)
    ]
    rejected = verdicts.count(False) / len(verdicts)
    assert 0.5 * REJECT_RATE < rejected < 2 * REJECT_RATE
    bad = {**op, "anchor": "Missing."}
    for seed in range(5):
        assert json.loads(ask(build(Phase.REVIEW, EN, whole(EN_TEXT), operation=bad, after="x"), seed))["approve"] is False


def test_without_a_phase_marker_it_writes_prose():
    reply = ask([{"role": "user", "content": "Continue: " + EN_TEXT}])
    assert not reply.startswith("{") and reply.rstrip(".!?…") != ""


def test_corrupt_breaks_the_json():
    content = json.dumps({"approve": True, "reason": "fine"})
    broken = {corrupt(content, random.Random(seed)) for seed in range(20)}
    assert content not in broken and len(broken) >= 3
