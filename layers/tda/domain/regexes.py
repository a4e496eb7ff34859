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

import re
import re._constants as sre_constants
import re._parser as sre_parse
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from tda.domain.errors import TdaError

# rstr draws up to this many repeats for ``*``, ``+`` and open ranges (its own default); a range
# that starts higher (``\d{150}``) is drawn from its own start, which rstr refused with a crash.
OPEN_REPEAT_DRAWS = 100
_MAX_NESTING = 20
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


# A compiled RE2 holds native memory Python does not see (its program and DFA states, up to
# 8 MiB; ≈0.3-1.2 MB for a 1000-character pattern): the callers' last patterns are kept, few,
# since a caller sends the same few again and again and compiling one costs about a ms.
MATCHERS_KEPT = 32


@lru_cache(maxsize=MATCHERS_KEPT)
def matcher(pattern: str) -> Matcher:
    """``fullmatch`` of ``pattern`` on RE2 (linear time); the pattern must have passed ``check``."""
    re2, options = _re2()
    compiled = re2.compile(pattern, options=options)
    # The re2 module keeps its own last 128 compiled patterns besides: ≈0.3 MB each for the
    # 1000-character patterns of a test, up to 1 GiB (128 × RE2's 8 MiB). Ours is the one kept.
    re2.purge()
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
    ``regex_draws.BoundedXeger`` caps them)."""
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


# Checking a value on RE2 is linear in its length, but each character may cost as many steps as
# the pattern has places a match can be at once: RE2's DFA gives out on a pattern like
# ``(?:a?){1000}(?:b?){1000}`` (2000 such places; its states are pairs) and its NFA then steps
# every one of them, a character at a time: 21 ms a value of 1000 characters, against 0.02 ms
# for ``[a-z]{1000}``. A request of 1000 such values, estimated at 3 s by the characters drawn,
# took 55 s. ``match_width_of`` bounds those places before anything runs; where the DFA holds
# (``(?:a?){1000}``), the bound is far above what it costs.
_UNBOUNDED = 1 << 62
_MAX_SPANS = 1 << 20  # RE2's program size bounds these; past this, the width is all of them


@lru_cache(maxsize=1024)
def match_width_of(pattern: str) -> int:
    """The most places in ``pattern`` (which passed ``check``) a match can be at after the same
    number of characters: the steps a character may cost to check a value against it."""
    spans: list[tuple[int, int]] = []
    _spans(parse(pattern), 0, 0, spans)
    if len(spans) >= _MAX_SPANS:
        return len(spans)
    deltas: dict[int, int] = {}
    for first, last in spans:
        deltas[first] = deltas.get(first, 0) + 1
        if last < _UNBOUNDED:
            deltas[last + 1] = deltas.get(last + 1, 0) - 1
    widest = live = 0
    for offset in sorted(deltas):
        live += deltas[offset]
        widest = max(widest, live)
    return widest


def _spans(parsed: Any, lo: int, hi: int, out: list[tuple[int, int]]) -> tuple[int, int]:
    """Appends to ``out`` the offsets each character of ``parsed`` can be matched at, given that
    it starts ``lo`` to ``hi`` characters in (repeats spelled out, as RE2 compiles them); returns
    where it can end."""
    for op, av in parsed:
        if len(out) >= _MAX_SPANS:
            break
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            lo, hi = _repeat_spans(av, lo, hi, out)
        elif op is sre_constants.SUBPATTERN:
            lo, hi = _spans(av[-1], lo, hi, out)
        elif op is sre_constants.BRANCH:
            ends = [_spans(branch, lo, hi, out) for branch in av[1]]
            lo, hi = min(end[0] for end in ends), max(end[1] for end in ends)
        elif op is not sre_constants.AT:
            out.append((lo, hi))
            lo, hi = lo + 1, min(hi + 1, _UNBOUNDED)
    return lo, hi


def _repeat_spans(av: Any, lo: int, hi: int, out: list[tuple[int, int]]) -> tuple[int, int]:
    low, high, body = av
    inner: list[tuple[int, int]] = []
    shortest, longest = _spans(body, 0, 0, inner)
    open_ended = high >= sre_constants.MAXREPEAT
    copies = low + 1 if open_ended else high  # x{2,} is x x x*: the last copy a loop
    for copy in range(copies):
        start_lo = lo + copy * shortest
        start_hi = _UNBOUNDED if open_ended and copy == low else hi + copy * longest
        for first, last in inner:
            out.append((start_lo + first, min(start_hi + last, _UNBOUNDED)))
        if len(out) >= _MAX_SPANS:
            break
    end_hi = _UNBOUNDED if open_ended and longest else hi + high * longest
    return lo + low * shortest, min(end_hi, _UNBOUNDED)


def drawn_repeats(low: int, high: int) -> int:
    """The most repeats generation draws for ``{low,high}``."""
    return min(high, max(low, OPEN_REPEAT_DRAWS))


@lru_cache(maxsize=256)  # a 1000-character pattern's parse is ≈50 KB
def parse(pattern: str) -> Any:
    """Python's parse of a pattern, as ``check``, ``longest_match_of`` and ``regex_draws``
    take it: parsed once per pattern, not once per use (the parse is only read, never changed)."""
    with warnings.catch_warnings():
        # "Possible nested set at position N": a caller's pattern is theirs to word, and the
        # warning, one per position, went to the server's stderr.
        warnings.simplefilter("ignore", FutureWarning)
        return sre_parse.parse(pattern)
