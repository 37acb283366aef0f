"""Authorship by replaying the edit log: each inserted character belongs to the
agent whose edit inserted it; a replay that cannot resolve an anchor is
corrected from the real text."""

from hypothesis import given, settings
from hypothesis import strategies as st

from coedit.common.anchors import find_all
from coedit.web.authorship import INITIAL, UNKNOWN, Authorship, Run


def op(kind: str, anchor: str = "", text: str = "", occurrence: int | None = None) -> dict:
    return {"type": kind, "anchor": anchor, "text": text, "occurrence": occurrence}


def test_initial_text_belongs_to_no_agent():
    authorship = Authorship("Роботы спят.")
    assert authorship.runs() == [Run(INITIAL, "Роботы спят.")]
    assert authorship.version == 0


def test_each_op_attributes_its_text():
    a = Authorship("Роботы спят.")
    assert a.apply(1, "ada", op("insert_after", "Роботы", " и дроны"))
    assert a.apply(2, "bob", op("append", text=" Утро."))
    assert a.apply(3, "cy", op("replace", "спят", "поют"))
    assert a.apply(4, "ada", op("insert_before", "Роботы", "Ночью "))
    assert a.text == "Ночью Роботы и дроны поют. Утро."
    assert a.version == 4
    assert a.runs() == [
        Run("ada", "Ночью "), Run(INITIAL, "Роботы"), Run("ada", " и дроны"), Run(INITIAL, " "),
        Run("cy", "поют"), Run(INITIAL, "."), Run("bob", " Утро."),
    ]
    assert a.shares() == {"ada": 14, INITIAL: 8, "bob": 6, "cy": 4}


def test_delete_removes_the_authors_of_the_removed_text():
    a = Authorship("A b c.")
    a.apply(1, "ada", op("insert_after", "b", " big"))
    a.apply(2, "bob", op("delete", "b big"))
    assert a.text == "A  c."
    assert a.runs() == [Run(INITIAL, "A  c.")]


def test_occurrence_picks_the_match():
    a = Authorship("x. x. x.")
    a.apply(1, "ada", op("insert_after", "x", "!", occurrence=2))
    assert a.text == "x. x!. x."
    assert a.runs()[1] == Run("ada", "!")


def test_unresolvable_anchor_changes_nothing_and_is_corrected_from_the_real_text():
    a = Authorship("The robots slept.")
    assert not a.apply(1, "ada", op("insert_after", "cats", " purred"))
    assert a.version == 0 and a.text == "The robots slept."
    a.correct(1, "ada", "The tired robots slept.")
    assert a.version == 1
    assert a.runs() == [Run(INITIAL, "The "), Run("ada", "tired "), Run(INITIAL, "robots slept.")]


def test_correction_keeps_earlier_authors_and_marks_unknown_text():
    a = Authorship("One. Two.")
    a.apply(1, "ada", op("append", text=" Three."))
    a.correct(1, UNKNOWN, "One. Two. Three. Four.")
    assert a.runs() == [Run(INITIAL, "One. Two."), Run("ada", " Three."), Run(UNKNOWN, " Four.")]


pieces = st.text(alphabet="abcр ", min_size=1, max_size=6)


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["append", "insert_after", "insert_before", "replace", "delete"]),
                          st.integers(0, 50), st.integers(1, 4), pieces, st.sampled_from(["ada", "bob"])),
                max_size=25))
def test_runs_always_spell_the_text(steps):
    """Whatever the ops, the runs concatenate to the replayed text and every
    agent's share is text that agent inserted."""
    a = Authorship("robots read tales")
    for version, (kind, start, length, text, agent) in enumerate(steps, 1):
        anchor = a.text[start : start + length]
        # the text node counts overlapping matches ("  " is twice in "   "): so do we
        if kind != "append" and (not anchor or len(find_all(a.text, anchor)) != 1):
            continue
        if kind == "delete" and anchor == a.text:
            continue
        assert a.apply(version, agent, op(kind, anchor, text))
    assert "".join(run.text for run in a.runs()) == a.text
    assert len(a.owners) == len(a.text)
