import pytest

from coedit.common.anchors import AnchorAmbiguous, AnchorNotFound, Splice, find_all, resolve
from coedit.text_node.models import EditOp

TEXT = "Роботы 🤖 читали сказки. Роботы 🤖 спали."


def apply(document: str, **op) -> str:
    """The edit resolved on the string (as the web's replay does) and on its UTF-8
    bytes (as the text node does) gives the same text."""
    op, utf8 = EditOp(**op), document.encode()
    on_string = resolve(document, op).apply(document)
    assert resolve(utf8, op).apply(utf8).decode() == on_string
    return on_string


def test_insert_after_unique_anchor_with_emoji():
    assert apply(TEXT, type="insert_after", anchor="сказки.", text=" Конец!") == (
        "Роботы 🤖 читали сказки. Конец! Роботы 🤖 спали."
    )


def test_insert_before():
    assert apply("Привет, мир", type="insert_before", anchor="мир", text="весь ") == "Привет, весь мир"


def test_replace_and_delete():
    assert apply("Привет, мир 🌍", type="replace", anchor="мир 🌍", text="космос 🚀") == "Привет, космос 🚀"
    assert apply("Привет, мир 🌍", type="delete", anchor=", мир") == "Привет 🌍"


def test_append_ignores_anchor():
    assert apply("a", type="append", text="😀") == "a😀"


def test_ambiguous_without_occurrence():
    with pytest.raises(AnchorAmbiguous) as caught:
        apply(TEXT, type="delete", anchor="Роботы 🤖 ")
    assert caught.value.matches == 2


def test_occurrence_picks_a_match():
    assert apply(TEXT, type="replace", anchor="Роботы", text="Няни", occurrence=2) == (
        "Роботы 🤖 читали сказки. Няни 🤖 спали."
    )


def test_occurrence_beyond_matches_is_not_found():
    with pytest.raises(AnchorNotFound):
        apply(TEXT, type="delete", anchor="Роботы", occurrence=3)


def test_absent_anchor():
    with pytest.raises(AnchorNotFound):
        apply(TEXT, type="insert_after", anchor="роботы стали счастливыми", text="!")


def test_overlapping_matches_count():
    assert find_all("ааа".encode(), "аа".encode()) == [0, 2]  # byte offsets: "а" is two bytes


@pytest.mark.parametrize("text, anchor", [
    ("Ёлка ёлка ЁЛКА", "ёлка"), ("🤖🤖🤖 робот 🤖", "🤖 "), ("ааа", "а"), ("Ñ ё Ñё", "ё"),
])
def test_byte_matches_are_the_string_matches(text, anchor):
    """UTF-8 never matches inside a character, so searching bytes finds what
    searching the string finds."""
    by_chars = find_all(text, anchor)  # str has the same find() as bytes
    assert find_all(text.encode(), anchor.encode()) == [len(text[:i].encode()) for i in by_chars]


def test_splice_offsets_are_code_points_on_a_string_and_bytes_on_utf8():
    assert Splice(1, 2, "Ж").apply("😀😀😀") == "😀Ж😀"
    assert Splice(4, 8, "Ж".encode()).apply("😀😀😀".encode()).decode() == "😀Ж😀"


@pytest.mark.parametrize(
    "op",
    [
        {"type": "insert_after", "anchor": "", "text": "x"},
        {"type": "insert_after", "anchor": "x", "text": ""},
        {"type": "move", "anchor": "x", "text": "y"},
        {"type": "delete", "anchor": "x", "occurrence": 0},
    ],
)
def test_malformed_ops_are_refused(op):
    with pytest.raises(ValueError):
        EditOp(**op)
