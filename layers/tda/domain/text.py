"""Text helpers shared by the rules (the domain) and the generators (the paths)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


@lru_cache(maxsize=1 << 16)
def slug(text: str) -> str:
    """Lower-case ASCII letters and digits of a name, for emails (``O'Brien`` → ``obrien``)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", plain.lower())
