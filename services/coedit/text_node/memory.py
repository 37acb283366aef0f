"""Giving freed memory back to the operating system after a compaction.

A compaction builds buffers as large as the whole history (the merged log, the rows
read for it) and frees them; glibc keeps such freed heap memory mapped, so without
this the node's RSS grew by about 2.4 KiB per edit where what it holds grows by
1 KiB (the text's tombstones and the edit log in Yrs; measured in docs/reliability.md).
`malloc_trim(0)` returns the free pages of every arena. Elsewhere than glibc it
does nothing."""

import ctypes
import ctypes.util

_libc_name = ctypes.util.find_library("c")
_malloc_trim = getattr(ctypes.CDLL(_libc_name), "malloc_trim", None) if _libc_name else None


def release_freed_memory() -> None:
    if _malloc_trim is not None:
        _malloc_trim(0)
