"""The prompt bound against the worst the common chat templates can count: every
byte of the rendered prompt a token (the most a byte-level BPE makes), each
special token one, SentencePiece's leading "▁", and NFKC-expanding characters."""

import unicodedata

from coedit.common.tokens import estimate_tokens, prompt_token_bound
from hypothesis import given
from hypothesis import strategies as st

# (per message: special tokens, text around the role and content; the reply's header; text per prompt)
CHATML = (2, "{role}\n{content}\n", "assistant\n", 3)  # <|im_start|>, <|im_end|>; BOS may add 1
LLAMA3 = (3, "{role}\n\n{content}", "assistant\n\n",  # headers and <|eot_id|>; <|begin_of_text|>
          3 + len("Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"))
OPENAI = (3, "{role}{content}", "", 3)  # the cookbook's count: 3 a message, 3 for the reply


def worst_count(messages: list[dict], template) -> int:
    specials, around, reply, per_prompt = template
    total = per_prompt + len(reply.encode())
    for m in messages:
        text = around.format(**m)
        total += specials + max(len(text.encode()), len(unicodedata.normalize("NFKC", text).encode())) + 1
    return total


texts = st.text(st.characters(codec="utf-8"), max_size=300)
conversations = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]),
                                                "content": texts}), min_size=1, max_size=5)


@given(conversations, texts)
def test_no_template_counted_a_byte_a_token_passes_the_bound(messages, schema):
    bound = prompt_token_bound(messages, schema)
    for template in (CHATML, LLAMA3, OPENAI):
        assert worst_count(messages, template) + len(schema.encode()) + 1 <= bound


def test_the_bound_counts_what_nfkc_expands():
    ligatures = "㍿" * 50  # 3 bytes each, 12 after NFKC
    assert prompt_token_bound([{"role": "user", "content": ligatures}]) > 12 * 50


def test_the_estimate_is_a_quarter_of_the_bytes_and_the_bound_all_of_them():
    text = "Роботы жили в тихом городе. " * 20
    messages = [{"role": "user", "content": text}]
    assert estimate_tokens(text) == -(-len(text.encode()) // 4)
    assert len(text.encode()) < prompt_token_bound(messages) <= len(text.encode()) + 120  # allowances, not a share
