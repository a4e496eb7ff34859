"""Caller regexes: checked at the door, generated from within bounds, matched in linear time.

A constraint's regex does two jobs. Values are *generated* from it (``rstr``, which walks
Python's own parse of the pattern), and values are *checked* against it: generated ones, a
scenario's overrides, later a model's records. Python's backtracking engine can take
exponential time on a hostile pattern (``(a+)+$`` against ``'a' * 28 + '!'`` froze a server for
17 s), so every check runs on RE2, whose time is linear in the input. A regex must therefore be
in the syntax both engines read (RE2 has no backreferences and no lookaround); one that is not,
or whose longest match exceeds the string length limit, is refused before anything is generated.
"""

from __future__ import annotations

import random
import re
import re._constants as sre_constants
import re._parser as sre_parse
import string
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

import rstr

from tda.domain.errors import TdaError

# rstr draws up to this many repeats for ``*``, ``+`` and open ranges (its own default); a range
# that starts higher (``\d{150}``) is drawn from its own start, which rstr refused with a crash.
OPEN_REPEAT_DRAWS = 100
# RE2's whitespace class; rstr's also holds \v, which RE2's ``\s`` does not match.
_WHITESPACE = " \t\n\r\f"
_MAX_NESTING = 20
# What '.' draws: printable ASCII but the newline, as rstr's own.
_ANY = tuple(c for c in string.printable if c != "\n")
# A constraint's regex, in characters (parsing and compiling are linear in it).
MAX_REGEX_LENGTH = 1_000


class RegexError(TdaError, ValueError):
    """A regex this service cannot take; the message says why, for the caller."""


Matcher = Callable[[str], Any]


@lru_cache(maxsize=1)
def _re2() -> tuple[Any, Any]:
    """RE2 and its options, imported by the first regex (≈3 ms a request without one never pays)."""
    import re2

    options = re2.Options()
    options.log_errors = False  # a refused pattern is the caller's error, answered, not logged
    options.never_capture = True  # only whether it matches is asked
    return re2, options


@lru_cache(maxsize=1024)
def matcher(pattern: str) -> Matcher:
    """``fullmatch`` of ``pattern`` on RE2 (linear time); the pattern must have passed ``check``."""
    re2, options = _re2()
    compiled = re2.compile(pattern, options=options)
    fullmatch: Matcher = compiled.fullmatch
    return fullmatch


def check(pattern: str, max_length: int) -> None:
    """Raise ``RegexError`` unless both engines read ``pattern`` and the values generation
    draws from it are at most ``max_length`` characters long."""
    if len(pattern) > MAX_REGEX_LENGTH:
        raise RegexError(f"is {len(pattern)} characters long; the limit is {MAX_REGEX_LENGTH}")
    try:
        parsed = parse(pattern)
    except re.error as exc:
        raise RegexError(f"does not compile: {exc}") from None
    except RecursionError:
        raise RegexError("is nested too deeply") from None
    try:
        matcher(pattern)  # compiled once, here, for every later check against it
    except _re2()[0].error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise RegexError(
            f"is not supported ({reason}): regexes are checked in linear time (RE2 syntax: "
            "no backreferences, no lookahead or lookbehind, repeats up to 1000)"
        ) from None
    longest = longest_match(parsed)
    if longest > max_length:
        raise RegexError(
            f"can match {longest if longest < 10**12 else 'over 10^12'} characters; "
            f"values are at most {max_length} characters long"
        )


@lru_cache(maxsize=1024)
def longest_match_of(pattern: str) -> int:
    """``longest_match`` of a pattern that passed ``check``."""
    return longest_match(parse(pattern))


def longest_match(parsed: Any, depth: int = 0) -> int:
    """The longest value generation can draw from a parsed pattern (open repeats capped as
    ``BoundedXeger`` caps them)."""
    if depth > _MAX_NESTING:
        raise RegexError(f"nests groups or repeats more than {_MAX_NESTING} deep")
    total = 0
    for op, av in parsed:
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, sub = av
            total += drawn_repeats(low, high) * longest_match(sub, depth + 1)
        elif op is sre_constants.SUBPATTERN:
            total += longest_match(av[-1], depth + 1)
        elif op is sre_constants.BRANCH:
            total += max(longest_match(branch, depth + 1) for branch in av[1])
        elif op is not sre_constants.AT:
            total += 1  # one character: a literal, a class, '.', a category
    return total


def drawn_repeats(low: int, high: int) -> int:
    """The most repeats generation draws for ``{low,high}``."""
    return min(high, max(low, OPEN_REPEAT_DRAWS))


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


@lru_cache(maxsize=1024)
def parse(pattern: str) -> Any:
    """Python's parse of a pattern, as ``check``, ``longest_match_of`` and ``BoundedXeger.draw``
    take it: parsed once per pattern, not once per use (the parse is only read, never changed)."""
    return sre_parse.parse(pattern)
