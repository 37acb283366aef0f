"""How an agent picks where to look: its share of the sentences first."""

from coedit.agent import context

TEXT = " ".join(f"Sentence {i} is here." for i in range(20))


def test_agents_with_different_slots_prefer_different_sentences():
    firsts = [context.ranked_free(TEXT, [], f"agent-{n}", 10)[0] for n in range(10)]
    assert len(set(firsts)) == 10
    assert set(context.share(TEXT, "agent-3", 10)) == {context.sentences(TEXT)[i] for i in (3, 13)}


def test_claimed_sentences_are_never_ranked_and_the_share_comes_first():
    spans = context.sentences(TEXT)
    ranked = context.ranked_free(TEXT, [spans[3]], "agent-3", 10)
    assert spans[3] not in ranked and ranked[0] == spans[13] and len(ranked) == 19


def test_the_region_holds_a_preferred_sentence_when_there_is_one():
    spans = context.sentences(TEXT)
    for key in "abcdefgh":
        region = context.region_for_intent(TEXT, 60, key, [], [spans[17]])
        assert region.start <= spans[17][0] and spans[17][1] <= region.end
    assert context.region_for_intent(TEXT, 60, "k", spans) is None
