"""A cache for what is worked out from a schema, bounded by what its keys hold, not only by
their number.

Compiled validators, layouts and rules are cached by the schema they come from: the registered
entities and a caller's own schemas are asked for again and again. ``functools.lru_cache``
bounds them by count alone, and one caller's schema may be a MiB of enum values: 256 such
schemas, each sent once, left ≈4 MB apiece in every process (over a GB) until it restarted.
Here the keys' ``footprint`` (characters they hold, ``EntitySpec.footprint``) is summed too,
and the least recently used entries are dropped past either bound.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

# Characters of keys one cache keeps: its count of ordinary callers' schemas (a few KB each),
# or two of a MiB. A schema larger than this is worked out again each time it is asked for.
MAX_CACHED_CHARS = 2_000_000


def _footprint(key: Any) -> int:
    size = getattr(key, "footprint", None)
    if isinstance(size, int):
        return size
    if isinstance(key, str):
        return len(key)
    if isinstance(key, tuple | frozenset):
        return sum(_footprint(part) for part in key)
    return 8


def cached_by_size(
    max_entries: int, max_chars: int = MAX_CACHED_CHARS
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``lru_cache(max_entries)`` that also keeps its keys' footprints to ``max_chars``."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        entries: OrderedDict[Hashable, tuple[R, int]] = OrderedDict()
        held = [0]
        lock = threading.Lock()

        @functools.wraps(function)
        def cached(*args: P.args, **kwargs: P.kwargs) -> R:
            key = (args, tuple(sorted(kwargs.items()))) if kwargs else args
            # A hit takes no lock (each request asks several of these caches): the dict's own
            # operations are atomic, and an entry dropped meanwhile was a hit all the same.
            hit = entries.get(key)
            if hit is not None:
                with contextlib.suppress(KeyError):
                    entries.move_to_end(key)
                return hit[0]
            value = function(*args, **kwargs)  # outside the lock: it may call itself
            size = _footprint(key)
            if size > max_chars:
                return value
            with lock:
                replaced = entries.pop(key, None)
                held[0] += size - (replaced[1] if replaced else 0)
                entries[key] = (value, size)
                while len(entries) > max_entries or held[0] > max_chars:
                    _, (_, dropped) = entries.popitem(last=False)
                    held[0] -= dropped
            return value

        return cached

    return decorate
