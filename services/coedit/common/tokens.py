"""Token counts without a tokenizer: an estimate, where a model reports none, and an
upper bound, which a budget reservation must be.

Why bytes bound tokens: a byte-level BPE (GPT-2, OpenAI's cl100k/o200k, Llama 3,
Qwen, SmolLM2) starts from one symbol per UTF-8 byte and its merges only join
symbols, so a text never has more tokens than bytes, whatever the pre-tokenizer
splits it into. A SentencePiece model (Llama 2, Mistral, Gemma) turns each
character into one piece or, by byte fallback, into one piece per byte, and may
put one "▁" before the text: at most bytes + 1. One that normalizes NFKC first
(T5-like) counts the normalized text, which can be longer ("㍿" is 4 characters
after NFKC): the bound takes the longer of the two. What is not text - the chat
template's special tokens, role headers, a BOS - is bounded by allowances."""

import unicodedata
from collections.abc import Iterable

MESSAGE_ALLOWANCE = 8  # a message's template tokens: ChatML has 4 (+ the role), Llama 3 has 5, OpenAI 3
# A call's template tokens besides its messages, counted a byte a token too: BOS, the reply's
# header ("<|im_start|>assistant\n", 11 bytes), and text some templates add (Llama 3.1 writes
# its dates into the system prompt: 63 bytes).
PROMPT_ALLOWANCE = 96


def estimate_tokens(text: str, bytes_per_token: int = 4) -> int:
    """About four UTF-8 bytes a token: ~4 Latin characters, ~2 Cyrillic ones,
    close to what OpenAI's tokenizers count for English and Russian prose."""
    return (len(text.encode()) + bytes_per_token - 1) // bytes_per_token


def text_token_bound(text: str) -> int:
    """The most tokens a byte-level BPE or SentencePiece tokenizer counts for `text`."""
    return max(len(text.encode()), len(unicodedata.normalize("NFKC", text).encode())) + 1


def prompt_token_bound(messages: Iterable[dict[str, str]], *attached: str) -> int:
    """The most prompt tokens a chat request can be charged: its messages (role and
    content) by bytes, the template allowances, and `attached` text that a server
    may write into the prompt (a response_format's JSON schema, as tool definitions are)."""
    texts = sum(text_token_bound(m["role"]) + text_token_bound(m["content"]) + MESSAGE_ALLOWANCE
                for m in messages)
    return texts + sum(text_token_bound(text) for text in attached) + PROMPT_ALLOWANCE
