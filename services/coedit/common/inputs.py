"""Types for values as they enter a service: what PostgreSQL, JSON and every reader
downstream can carry. A value outside them is refused with 422 where it enters,
never stored to fail later (a NUL poisons a whole group commit, a lone surrogate
cannot be encoded, a number past 64 bits overflows a sum)."""

import base64
import binascii
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_TOKENS = 10**9  # far above any model call, far below an int64 sum of many
MAX_SEQ = 2**62  # log positions and versions: bigint with room to add


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64") from None
    return value


StorableText = Annotated[str, AfterValidator(_storable)]
Base64Text = Annotated[str, AfterValidator(_base64)]
TokenCount = Annotated[int, Field(ge=0, le=MAX_TOKENS)]
Position = Annotated[int, Field(ge=0, le=MAX_SEQ)]
