"""The limits that protect the service, each checked before any work starts.

A request's cost is its record count times what one record can hold, and what a record can
hold follows from its compiled schema alone: string lengths, regexes' longest matches, array
lengths multiplied through nesting. ``record_bounds`` works that out once per schema, so a
request that would be too large is refused, naming the field or the count, before a single
value is drawn — never after seconds of work, and never on a server's event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from tda.domain.bounded_cache import cached_by_size
from tda.domain.contract import FieldType
from tda.domain.errors import FieldIssue
from tda.domain.regexes import longest_match_of, match_width_of
from tda.domain.schema.spec import MAX_STRING_LENGTH as MAX_STRING_LENGTH  # one of the limits
from tda.domain.schema.spec import EntitySpec, FieldSpec, is_id_pattern

# Scalar values in one record, array items multiplied through their nesting.
MAX_RECORD_VALUES = 20_000
# One record's JSON, every string and array at its longest.
MAX_RECORD_BYTES = 1 << 20
# What a model path puts into every prompt: a context, or scenario descriptions, this long
# would cost more tokens than any request should spend on words it repeats.
MAX_CONTEXT_CHARS = 10_000
MAX_SCENARIO_DESCRIPTION_CHARS = 2_000
# Characters drawn from regexes, ≈0.15-0.8 µs each (``regex_draws``): a synchronous request's (two
# seconds of a worker thread at most), and a stream's or job's (a 10K-record chunk stays within minutes).
MAX_SYNC_REGEX_CHARS = 2_000_000
MAX_REGEX_CHARS = 200_000_000
# Steps of checking values against regexes, each drawn value's longest times the places a match
# can be at once (``regexes.match_width_of``), ≈5-11 ns each where RE2's DFA gives out: ≈10 s of
# a worker at most for a synchronous request (a pattern of 2000 such places, 1000 values of it,
# took 55 s), ≈20 minutes of a job's workers in all.
MAX_SYNC_REGEX_STEPS = 400_000_000
MAX_REGEX_STEPS = 100 * MAX_SYNC_REGEX_STEPS
# The same, for a request's scenario overrides checked against their fields' regexes while it is
# planned (on a pool whose work is ≈0.1 s a request): 100 overrides of 2000 characters against
# such a pattern held it 3 s, a megabyte of them 15 s.
MAX_OVERRIDE_REGEX_STEPS = 20_000_000
# A synchronous request may be served on the event loop when it is this small: cheaper than
# the hop to a thread (a few ms of CPU at most). Larger ones go to a worker thread.
INLINE_BYTES = 256 << 10
INLINE_VALUES = 50_000
# A synchronous request this small is made as soon as it is checked (≈0.1 s of CPU at most),
# never queued behind heavy generation: a few hundred thousand values, a MiB of output, ≈10,000
# characters drawn from regexes.
LIGHT_BYTES = 1 << 20
LIGHT_VALUES = 200_000
LIGHT_REGEX_CHARS = 10_000

# Typical JSON widths of values whose length no constraint sets (a name, a sentence...), and
# of each type's longest form; used to bound a response's size before it is made.
_FREE_TEXT_BYTES = 80
_WIDTH = {
    FieldType.INTEGER: 20,
    FieldType.FLOAT: 24,
    FieldType.BOOLEAN: 5,
    FieldType.DATE: 12,
    FieldType.DATETIME: 34,
    FieldType.EMAIL: 64,
    FieldType.PHONE: 24,
    FieldType.UUID: 38,
    FieldType.ADDRESS: 120,
}


@dataclass(frozen=True)
class RecordBounds:
    """What one record of a schema can hold: scalar values and JSON bytes (upper estimates),
    and the top-level fields that hold the most of each, to name in an error."""

    values: int
    bytes: int
    regex_chars: int  # characters drawn from regexes, the costliest to make (≈0.15-0.8 µs each)
    regex_steps: int  # steps of checking them, at most (``MAX_SYNC_REGEX_STEPS``)
    most_values: str
    most_bytes: str


@cached_by_size(256)
def record_bounds(spec: EntitySpec) -> RecordBounds:
    per_field = {f.path: _field_bounds(f) for f in spec.fields}
    return RecordBounds(
        values=sum(v for v, _, _, _ in per_field.values()),
        bytes=2 + sum(b + len(path) + 4 for path, (_, b, _, _) in per_field.items()),
        regex_chars=sum(r for _, _, r, _ in per_field.values()),
        regex_steps=sum(steps for _, _, _, steps in per_field.values()),
        most_values=max(per_field, key=lambda p: per_field[p][0], default=""),
        most_bytes=max(per_field, key=lambda p: per_field[p][1], default=""),
    )


def size_issues(spec: EntitySpec, count: int, sync: bool, max_bytes: int) -> list[FieldIssue]:
    """Why ``count`` records of ``spec`` are too much to make: one record above its limits, or
    the whole above ``max_bytes`` of output or its budget of regex characters."""
    bounds = record_bounds(spec)
    where = "schema" if spec.custom else "constraints"
    issues = []
    if bounds.values > MAX_RECORD_VALUES:
        issues.append(
            FieldIssue(
                f"{where}.{bounds.most_values}",
                f"one record can hold {bounds.values:,} values (array lengths multiply through "
                f"nesting); the limit is {MAX_RECORD_VALUES:,}",
            )
        )
    if bounds.bytes > MAX_RECORD_BYTES:
        issues.append(
            FieldIssue(
                f"{where}.{bounds.most_bytes}",
                f"one record can be {size_text(bounds.bytes)} of JSON; the limit is "
                f"{size_text(MAX_RECORD_BYTES)}",
            )
        )
    if issues:
        return issues
    more = "; ask for fewer, or use GenerateDataStream, a job or the CLI" if sync else ""
    if count * bounds.bytes > max_bytes:
        issues.append(
            FieldIssue(
                "count",
                f"{count:,} records of up to {size_text(bounds.bytes)} each could be "
                f"{size_text(count * bounds.bytes)} of output; the limit is "
                f"{size_text(max_bytes)}{more}",
            )
        )
    regex_work = (
        (count * bounds.regex_chars, MAX_SYNC_REGEX_CHARS if sync else MAX_REGEX_CHARS,
         "records draw up to {:,} characters from regexes"),
        (count * bounds.regex_steps, MAX_SYNC_REGEX_STEPS if sync else MAX_REGEX_STEPS,
         "records can take {:,} steps to check against their regexes (a value's length "
         "times the places a match can be at once)"),
    )  # fmt: skip
    for total, budget, what in regex_work:
        if total > budget:
            issues.append(
                FieldIssue(
                    "count", f"{count:,} {what.format(total)}; the limit is {budget:,}{more}"
                )
            )
    return issues


def inline(spec: EntitySpec, count: int) -> bool:
    """Whether ``count`` records of ``spec`` are cheap enough to make on an event loop."""
    bounds = record_bounds(spec)
    return count * bounds.bytes <= INLINE_BYTES and count * bounds.values <= INLINE_VALUES


def light(spec: EntitySpec, count: int) -> bool:
    """Whether ``count`` records of ``spec`` cost little enough never to wait for heavy work."""
    bounds = record_bounds(spec)
    return (
        count * bounds.bytes <= LIGHT_BYTES
        and count * bounds.values <= LIGHT_VALUES
        and count * bounds.regex_chars <= LIGHT_REGEX_CHARS
    )


# CPU a request costs at most, per unit of its bounds (measured on this 2-core machine: 1000
# users from a 1000-character regex, 0.15 s for ``(ab|cd){500}`` to 0.8 s for ``(?:a?){1000}``,
# a repeat in each character; 1000 users with 10,000-character names, 0.26 s;
# 1000 records of 40 caller-schema strings, 0.04 s), rounded up. A server admits heavy requests
# by this sum (``tda.app.heavy_work``), not by their number: one request may cost 100x another.
SECONDS_PER_VALUE = 1.5e-6
SECONDS_PER_BYTE = 3e-8
SECONDS_PER_REGEX_CHAR = 1.5e-6
# A step of checking a value against its regex (``MAX_SYNC_REGEX_STEPS``), made twice: when
# drawn and when validated.
SECONDS_PER_REGEX_STEP = 2.5e-8


def work_seconds(spec: EntitySpec, count: int) -> float:
    """An upper estimate of the CPU seconds ``count`` records of ``spec`` take to make."""
    bounds = record_bounds(spec)
    return count * (
        bounds.values * SECONDS_PER_VALUE
        + bounds.bytes * SECONDS_PER_BYTE
        + bounds.regex_chars * SECONDS_PER_REGEX_CHAR
        + bounds.regex_steps * SECONDS_PER_REGEX_STEP
    )


def answer_bytes(spec: EntitySpec, count: int) -> int:
    """An upper estimate of the JSON bytes ``count`` records of ``spec`` come to."""
    return count * record_bounds(spec).bytes


def size_text(n: int) -> str:
    """``n`` bytes as people read them: 1.5 GiB, 12.0 MiB, 300 bytes."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


class OverrideChecks:
    """What checking a request's overrides against their fields' regexes may still cost, in
    steps (``MAX_OVERRIDE_REGEX_STEPS``), spent override by override before each is checked."""

    def __init__(self) -> None:
        self.steps_left = MAX_OVERRIDE_REGEX_STEPS

    def afford(self, f: FieldSpec, value: str) -> bool:
        """Whether checking ``value`` against ``f``'s regex still fits; spends it if so."""
        if f.regex is None:
            return True
        steps = len(value) * match_width_of(f.regex)
        if steps > self.steps_left:
            self.steps_left = -1  # one override named: the rest go unchecked
            return False
        self.steps_left -= steps
        return True


def _longest_array(f: FieldSpec) -> int:
    return f.max_length if f.max_length is not None else max(f.min_length or 1, 3)


def _field_bounds(f: FieldSpec) -> tuple[int, int, int, int]:
    """(values, bytes, regex characters, regex steps) of one field at its largest."""
    if f.is_array:
        assert f.item is not None
        length = _longest_array(f)
        v, b, r, steps = _field_bounds(f.item)
        return v * length, (b + 1) * length + 2, r * length, steps * length
    if f.is_object:
        values, size, drawn, checked = 0, 2, 0, 0
        for child in f.children:
            v, b, r, steps = _field_bounds(child)
            values, size, drawn = values + v, size + b + len(child.name) + 4, drawn + r
            checked += steps
        return values, size, drawn, checked
    if f.regex is None:
        return 1, _scalar_bytes(f), 0, 0
    longest = longest_match_of(f.regex)
    return 1, _scalar_bytes(f), longest, longest * match_width_of(f.regex)


def _scalar_bytes(f: FieldSpec) -> int:
    if f.regex is not None:
        return longest_match_of(f.regex) + 2
    if f.type is FieldType.ENUM:
        return max((len(v) for v in f.enum_values), default=0) + 2
    if is_id_pattern(f.format):
        return len(f.format or "") + 16
    if f.type is FieldType.STRING:
        if f.max_length is not None:
            return f.max_length + 2
        return (f.min_length or 0) + _FREE_TEXT_BYTES + 2  # padded past min_length by words
    return _WIDTH.get(f.type, _FREE_TEXT_BYTES)


def prompt_issues(context: str, descriptions: list[str]) -> list[FieldIssue]:
    """A context or scenario description too long to send to a model with every call."""
    issues = []
    if len(context) > MAX_CONTEXT_CHARS:
        issues.append(
            FieldIssue(
                "context",
                f"must be at most {MAX_CONTEXT_CHARS:,} characters (got {len(context):,})",
            )
        )
    for i, text in enumerate(descriptions):
        if len(text) > MAX_SCENARIO_DESCRIPTION_CHARS:
            issues.append(
                FieldIssue(
                    f"scenarios[{i}].description",
                    f"must be at most {MAX_SCENARIO_DESCRIPTION_CHARS:,} characters "
                    f"(got {len(text):,})",
                )
            )
    return issues
