"""Values drawn from a caller's regex (``rstr`` walking Python's parse of it), within the bounds
``tda.domain.regexes`` checked. Apart from the checks: only a field with a regex draws, and
``rstr`` with ``string`` is ≈1.5 ms of an import that most requests never need.
"""

from __future__ import annotations

import random
import re._constants as sre_constants
import string
from collections.abc import Sequence
from itertools import chain
from typing import Any

import rstr

from tda.domain.regexes import drawn_repeats

# RE2's whitespace class; rstr's also holds \v, which RE2's ``\s`` does not match.
_WHITESPACE = " \t\n\r\f"
# What '.' draws: printable ASCII but the newline, as rstr's own.
_ANY = tuple(c for c in string.printable if c != "\n")


class BoundedXeger(rstr.Rstr):
    """rstr's generator with the repeat bound of ``drawn_repeats`` and RE2's ``\\s``."""

    def __init__(self, source: random.Random) -> None:
        super().__init__(source, whitespace=_WHITESPACE)
        # A character class's candidates, worked out once per class rather than once per
        # character drawn (rstr rebuilt the list each time: ≈6 µs a character). Keyed by the
        # parsed node's identity: a maker lives for one batch, the parse it draws from longer.
        self._classes: dict[int, list[str]] = {}

    def _handle_in(self, value: Any) -> Any:
        return self._random.choice(self._class(value))

    def _class(self, value: Any) -> list[str]:
        candidates = self._classes.get(id(value))
        if candidates is None:
            drawn: list[Any] = list(chain(*(self._handle_state(i) for i in value)))
            if drawn[0] is False:  # a negated class: sorted, as sets iterate by hash
                drawn = sorted(set(string.printable).difference(drawn[1:]))
            candidates = self._classes[id(value)] = drawn
        return candidates

    def _handle_repeat(self, start_range: int, end_range: int, value: Any) -> str:
        times = self._random.randint(start_range, drawn_repeats(start_range, end_range))
        single = self._single_character(value)
        if single is not None:  # [a-z]{1000}, \d+, .*: one draw per character, no parse walk
            choice = self._random.choice
            return "".join([choice(single) for _ in range(times)])
        return "".join(self._handle_state(state) for _ in range(times) for state in value)

    def _single_character(self, value: Any) -> Sequence[str] | None:
        """The candidates of a repeated single character class, or None for anything else."""
        if len(value) != 1:
            return None
        op, av = value[0]
        if op is sre_constants.IN:
            return self._class(av)
        if op is sre_constants.ANY:
            return _ANY
        if op is sre_constants.CATEGORY:
            alphabet: str = self._categories[av.name.lower()]()
            return alphabet
        if op is sre_constants.LITERAL:
            return (chr(av),)
        return None

    def draw(self, parsed: Any) -> str:
        """One value of a pattern parsed once (``parse``), not once per value as ``xeger`` does."""
        value: str = self._build_string(parsed)
        self._cache.clear()  # group references are per value
        return value
