"""Text helpers shared by the rules (the domain) and the generators (the paths)."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

# What is worked out from a value (a name's slug, a brand's code, an item's occasions) is
# cached for values up to this long: the pools' and the catalog's repeat, request after
# request. A caller's values may be 10,000 characters and never repeat; cached, each request of
# 1000 users with such names left ≈38 MB in the process (the slugs' 65,536 entries: over a GB).
CACHED_TEXT_CHARS = 128


def is_whole_number(text: str) -> bool:
    """``text`` is ASCII digits alone. ``str.isdigit`` also takes '²', which ``int`` refuses (a
    job's ``max_concurrency=²`` was a 500), and '٣', which ``int`` reads as 3."""
    return text.isascii() and text.isdigit()


def cached_when_short(maxsize: int) -> Callable[[Callable[[str], str]], Callable[[str], str]]:
    """``lru_cache(maxsize)`` for texts of up to ``CACHED_TEXT_CHARS``; longer ones are worked
    out each time."""

    def decorate(function: Callable[[str], str]) -> Callable[[str], str]:
        cached = functools.lru_cache(maxsize=maxsize)(function)

        @functools.wraps(function)
        def call(text: str) -> str:
            return cached(text) if len(text) <= CACHED_TEXT_CHARS else function(text)

        return call

    return decorate


@cached_when_short(1 << 16)  # ≤ 128 characters a key: ≈20 MB at most
def slug(text: str) -> str:
    """Lower-case ASCII letters and digits of a name, for emails (``O'Brien`` → ``obrien``)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", plain.lower())
