"""A tokenizer-free estimate of token counts, used where a model reports none."""


def estimate_tokens(text: str) -> int:
    """About four UTF-8 bytes a token: ~4 Latin characters, ~2 Cyrillic ones,
    close to what OpenAI's tokenizers count for English and Russian prose."""
    return (len(text.encode()) + 3) // 4
