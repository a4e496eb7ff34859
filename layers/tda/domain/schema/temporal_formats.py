"""strftime formats for DATE and DATETIME fields: written with ``formatted_time``, and taken
only when what they write reads back (``strptime``) as the time written.

Every value is checked against its schema before it is handed back, by reading it with the
field's format. A format that writes what it cannot read back (``%s``, ``%-d``, a lone ``%``, no
year, ``%y`` for a year outside 1969–2068) failed each record as a generator bug, an HTTP 500;
one of 400,000 characters took 4 s before the regex module gave up on it. So a format is
checked when the request is: its length, its directives, the parts of a time it names (the
largest first), and then what it writes at the field's first, middle and last moments, read
back.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime

from tda.domain.contract import FieldType
from tda.domain.schema.spec import TIME_RANGE

# Longer is no format a caller writes by hand: 64 characters hold any of ISO 8601's forms twice.
MAX_FORMAT_CHARACTERS = 64
# What strptime reads back as written, in any locale Python starts in (C: English names).
# Left out: %c %x %X (the locale's own forms), %U %W %w %G %V %u (weeks), %s (not read by
# strptime), and glibc's %-d, %e and the like (not read by strptime).
DIRECTIVES = "YymdjbBaAHIpMSfzZ%"
_DIRECTIVE = re.compile(r"%(.?)", re.S)
DAY = 86400
# A two-digit year reads back as 1969–2068 (POSIX's pivot).
TWO_DIGIT_YEARS = (1969, 2068)
# The parts of a time, largest first, and the directives that name each (%j: month and day).
_PARTS = (
    ("year", "Yy"),
    ("month", "mbBj"),
    ("day", "dj"),
    ("hour", "HI"),
    ("minute", "M"),
    ("second", "S"),
    ("fraction of a second", "f"),
)


def formatted_time(moment: datetime, fmt: str) -> str:
    """``moment.strftime(fmt)``, with years before 1000 written in four digits."""
    if moment.year >= 1000:
        return moment.strftime(fmt)
    # C's %Y writes year 8 as "8", which no %Y reads back: four digits, as ISO 8601 has them
    # (each %-pair read as one, so "%%Y" stays a literal "%Y").
    padded = _DIRECTIVE.sub(lambda m: f"{moment.year:04d}" if m[1] == "Y" else m[0], fmt)
    return moment.strftime(padded)


def format_problem(
    fmt: str, kind: FieldType, first: int, last: int, least: float | None
) -> str | None:
    """Why ``fmt`` cannot be a ``kind`` field's format when its values run from ``first`` to
    ``last`` (epoch seconds) and may be no earlier than ``least`` (its min, if set), or None.

    A format may leave out the smaller parts of a time (a DATETIME as '%d/%m/%Y'): what it
    writes reads back as the time cut down to what it names, never later, and in the same
    order. Its first value must then not read back before the field's min."""
    if len(fmt) > MAX_FORMAT_CHARACTERS:
        return f"at most {MAX_FORMAT_CHARACTERS} characters (got {len(fmt):,})"
    if any(not character.isprintable() for character in fmt):
        return "no control characters"
    used = [match[1] for match in _DIRECTIVE.finditer(fmt)]
    for directive in used:
        if directive == "":
            return "ends with a lone '%' (write %% for a percent sign)"
        if directive not in DIRECTIVES:
            return f"%{directive} is not read back by strptime; a date's format takes " + " ".join(
                f"%{d}" for d in DIRECTIVES
            )
    gap = _gap(set(used))
    if gap:
        return gap
    first, last = (min(max(end, TIME_RANGE[0]), TIME_RANGE[1]) for end in (first, last))
    if kind is FieldType.DATE:  # the whole days between, as the generator draws them
        first, last = -(-first // DAY) * DAY, last // DAY * DAY
    if first > last:
        return None  # bounds no time lies between, named by the bounds' own check
    if "y" in used and not TWO_DIGIT_YEARS[0] <= _year(first) <= _year(last) <= TWO_DIGIT_YEARS[1]:
        return (
            f"%y reads back years {TWO_DIGIT_YEARS[0]}–{TWO_DIGIT_YEARS[1]} only, and this "
            f"field's run from {_year(first)} to {_year(last)}: use %Y"
        )
    return _unread(fmt, kind, first, last, least)


def _gap(used: set[str]) -> str:
    """What the format leaves out that a part it names needs: a time cut down to what it
    names has its largest parts, the year first."""
    if "I" in used and "p" not in used:
        return "names the hour as %I without %p: 1 pm would read back as 1 am"
    named = [part for part, directives in _PARTS if used & set(directives)]
    if not named or named[0] != "year":
        return "names no year (%Y or %y): every value is read back with its format"
    for (part, _), (smaller, _) in itertools.pairwise(_PARTS):
        if smaller in named and part not in named:
            names = " or ".join(f"%{d}" for d in dict(_PARTS)[part])
            return f"names the {smaller} but not the {part} ({names}): values would not read back"
    return ""


def _unread(fmt: str, kind: FieldType, first: int, last: int, least: float | None) -> str | None:
    """The first of the field's first, middle and last moments (whole days for a DATE) that the format does not read
    back as itself cut down (the parts named can still clash: %j against %m and %d)."""
    unit = DAY if kind is FieldType.DATE else 1
    for seconds in (first, first + (last - first) // 2 // unit * unit, last):
        moment = datetime.fromtimestamp(seconds, UTC)
        written = formatted_time(moment, fmt)
        try:
            read = datetime.strptime(written, fmt)
        except ValueError:
            return f"does not read back what it writes: {moment.isoformat()} is written {written!r}"
        read = read if read.tzinfo is not None else read.replace(tzinfo=UTC)
        if read > moment:
            return f"does not read back what it writes: {moment.isoformat()} is written {written!r}"
        if seconds == first and least is not None and read.timestamp() < least:
            return (
                f"reads {moment.isoformat()} back as {read.isoformat()}, before the field's "
                "min: name the smaller parts too, or set min where the format can say it"
            )
    return None


def _year(seconds: int) -> int:
    return datetime.fromtimestamp(seconds, UTC).year
