"""Text helpers shared by the rules (the domain) and the generators (the paths)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# What is worked out from a value (a name's slug, a brand's code, an item's occasions) is
# cached for values up to this long: the pools' and the catalog's repeat, request after
# request. A caller's values may be 10,000 characters and never repeat; cached, each request of
# 1000 users with such names left ≈38 MB in the process (the slugs' 65,536 entries: over a GB).
CACHED_TEXT_CHARS = 128


def slug(text: str) -> str:
    """Lower-case ASCII letters and digits of a name, for emails (``O'Brien`` → ``obrien``)."""
    return _cached_slug(text) if len(text) <= CACHED_TEXT_CHARS else _slug(text)


@lru_cache(maxsize=1 << 16)  # ≤ 128 characters a key: ≈20 MB at most
def _cached_slug(text: str) -> str:
    return _slug(text)


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", plain.lower())
