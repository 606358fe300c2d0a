"""What a process remembers to spare a query on a hot path, registered in one place.

A few answers change a few times a year but would be read on every partner request (the brand of a
host, an API key, the loyalty rules, whether anyone subscribes to an event). Each is remembered by
the process that read it, each with its own reason to be still right (a time limit, a generation
token in Redis, a row-version signature read in the same statement) — written next to the memo.
What they share is here: every memo is registered by name, and `memos_forget_all()` forgets them
all (tests start each test from nothing; a brand's change forgets the memos that hold it).

    _rules: dict[tuple[str, str], Rules] = process_memo("loyalty rules per brand")

The order request's hot path and the memos it reads are mapped in docs/hot-path.md.
"""

from collections.abc import Callable
from typing import Any

_forgetters: dict[str, Callable[[], None]] = {}


def process_memo(name: str) -> dict[Any, Any]:
    """A new dict the process remembers in, registered under `name` (cleared by memos_forget_all)."""
    memo: dict[Any, Any] = {}
    memo_register(name, memo.clear)
    return memo


def memo_register(name: str, forget: Callable[[], None]) -> None:
    """Register a memo kept another way (an `lru_cache`'s `cache_clear`); one name, one memo."""
    _forgetters[name] = forget


def memos_forget_all() -> None:
    for forget in _forgetters.values():
        forget()


def memo_names() -> tuple[str, ...]:
    return tuple(sorted(_forgetters))
