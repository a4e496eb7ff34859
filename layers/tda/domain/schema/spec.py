"""The compiled schema every part of the core works from.

Registered entities (data files), caller schemas (the proto's Field list) and request
constraints all end up as one immutable ``EntitySpec`` tree of ``FieldSpec`` nodes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property

from tda.domain.contract import FieldType

# Types whose values are strings on the wire, so regex/length constraints apply to them.
STRING_LIKE = frozenset(
    {FieldType.STRING, FieldType.EMAIL, FieldType.PHONE, FieldType.UUID, FieldType.ENUM}
)
NUMERIC = frozenset({FieldType.INTEGER, FieldType.FLOAT})
TEMPORAL = frozenset({FieldType.DATE, FieldType.DATETIME})

MONEY_FORMAT = "money"
# Money a record may hold, either way: its cents fit the engine's int64 columns (a model's
# price of 10^17 overflowed them) and SQL's NUMERIC(20, 2). A request may set (an override, a
# bound) less, so that an order's cents times quantities times items stay under it too.
MONEY_VALID_END = 9 * 10**16
MONEY_END = 10**14
# Epoch seconds a date may be: 0001-01-01T00:00:00Z … 9999-12-31T23:59:59Z, what ISO 8601 text
# and Python's datetime hold (a bound of 10^15 drew year 116819978, an internal error).
TIME_RANGE = (-62135596800, 253402300799)
# Default window for dates with no min/max: fixed (not "now") so a seed reproduces output forever.
DEFAULT_FROM = 1704067200  # 2024-01-01T00:00:00Z
DEFAULT_TO = 1767225599  # 2025-12-31T23:59:59Z
# A string value's length (min_length/max_length, a regex's longest match). Longer text is a
# file, not a field; 1000 such records are 10 MB of JSON. (``tda.domain.limits`` has the rest.)
MAX_STRING_LENGTH = 10_000
ADDRESS_LINE_FORMAT = "line"

_PATTERN_TOKEN = re.compile(r"\{(year|random|digits)(?::(\d+))?\}")


def pattern_to_regex(pattern: str) -> str:
    """The regex matching every value an id pattern such as ``CRT-{year}-{random:7}`` yields."""
    out: list[str] = []
    pos = 0
    for match in _PATTERN_TOKEN.finditer(pattern):
        out.append(re.escape(pattern[pos : match.start()]))
        kind, width = match.group(1), _width(match)
        out.append(rf"\d{{{width}}}" if kind != "random" else rf"[A-Z0-9]{{{width}}}")
        pos = match.end()
    out.append(re.escape(pattern[pos:]))
    return "".join(out)


def pattern_length(pattern: str) -> int:
    """How many characters every value of an id pattern has, counted without making one (a
    width of 20 digits once asked numpy for an array it could not have)."""
    tokens = _PATTERN_TOKEN.finditer(pattern)
    return len(_PATTERN_TOKEN.sub("", pattern)) + sum(_width(m) for m in tokens)


def _width(token: re.Match[str]) -> int:
    """Characters a token makes: 4 for {year}, N for {random:N} or {digits:N} (7 unsaid). A
    width of ten digits or more counts as 10^9: no int of thousands of digits is parsed, and
    the length check refuses either."""
    if token.group(1) == "year":
        return 4
    digits = token.group(2)
    if not digits:
        return 7
    return int(digits) if len(digits) <= 9 else 10**9


def draws_a_token(fmt: str | None) -> bool:
    """An id pattern with a {random:N} or {digits:N}: something to tell its values apart."""
    return any(m.group(1) != "year" for m in _PATTERN_TOKEN.finditer(fmt or ""))


def is_id_pattern(fmt: str | None) -> bool:
    return bool(fmt) and _PATTERN_TOKEN.search(fmt or "") is not None


# What a regex holds once compiled, per character of its pattern: RE2's program and DFA states
# are native memory, ≈0.3-1.2 KB a character measured, and each cache entry of its schema that
# holds a validator keeps its compiled pattern alive.
REGEX_WEIGHT = 1000


@dataclass(frozen=True)
class FieldSpec:
    """One field. OBJECT fields have ``children``; ARRAY fields have one ``item`` spec."""

    name: str
    type: FieldType
    path: str
    required: bool = True
    description: str = ""
    children: tuple[FieldSpec, ...] = ()
    item: FieldSpec | None = None
    minimum: float | None = None
    maximum: float | None = None
    enum_values: tuple[str, ...] = ()
    enum_weights: tuple[float, ...] = ()
    regex: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    format: str | None = None
    generator: str | None = None
    unique: bool = False
    choices: tuple[float | str, ...] = ()

    @property
    def is_money(self) -> bool:
        return self.type is FieldType.FLOAT and self.format == MONEY_FORMAT

    @property
    def is_object(self) -> bool:
        return self.type is FieldType.OBJECT or (
            self.type is FieldType.ADDRESS and self.format != ADDRESS_LINE_FORMAT
        )

    @property
    def is_array(self) -> bool:
        return self.type is FieldType.ARRAY

    @property
    def is_scalar(self) -> bool:
        return not (self.is_object or self.is_array)

    def with_changes(self, **changes: object) -> FieldSpec:
        return replace(self, **changes)  # type: ignore[arg-type]

    @cached_property
    def footprint(self) -> int:
        """About the characters this field holds, its children's and item's included: what a
        cache keyed by it keeps (``tda.domain.bounded_cache``)."""
        texts = (self.name, self.path, self.description, self.format, self.generator)
        own = sum(len(text or "") for text in texts) + sum(map(len, self.enum_values))
        own += REGEX_WEIGHT * len(self.regex or "")
        own += sum(len(str(choice)) for choice in self.choices) + 8 * len(self.enum_weights)
        nested = sum(child.footprint for child in self.children)
        return 64 + own + nested + (self.item.footprint if self.item is not None else 0)


@dataclass(frozen=True)
class RuleSpec:
    """A business rule from the entity data: ``derive`` a field from ``expr``, or ``check`` it."""

    name: str
    expr: str
    derive: str | None = None
    category: str = "consistency"
    weight: float = 1.0
    tolerance: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class EntitySpec:
    """An entity's fields and rules, checked: what generation and validation work from."""

    name: str
    domain: str
    description: str
    fields: tuple[FieldSpec, ...]
    rules: tuple[RuleSpec, ...] = ()
    primary_key: str | None = None
    custom: bool = False

    def __hash__(self) -> int:
        # Specs key the per-request caches (warm slabs, compiled validators); the generated
        # hash walked every field of every level on each lookup, so it is kept once made.
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = self.__dict__["_hash"] = hash(
                (self.name, self.domain, self.description, self.fields, self.rules,
                 self.primary_key, self.custom)
            )  # fmt: skip
        return cached

    def walk(self) -> Iterator[FieldSpec]:
        """Every field, depth first, array items included."""

        def visit(spec: FieldSpec) -> Iterator[FieldSpec]:
            yield spec
            for child in spec.children:
                yield from visit(child)
            if spec.item is not None:
                yield from visit(spec.item)

        for top in self.fields:
            yield from visit(top)

    @cached_property
    def footprint(self) -> int:
        """About the characters this schema holds (``FieldSpec.footprint``)."""
        rules = sum(64 + len(rule.expr) + len(rule.message) for rule in self.rules)
        texts = len(self.name) + len(self.domain) + len(self.description)
        return 64 + texts + rules + sum(field.footprint for field in self.fields)

    @cached_property
    def by_path(self) -> dict[str, FieldSpec]:
        return {spec.path: spec for spec in self.walk()}

    @cached_property
    def _by_either_path(self) -> dict[str, FieldSpec]:
        return {_either_way(spec.path): spec for spec in self.walk()}

    def find(self, path: str) -> FieldSpec | None:
        """The field at ``path``; a field of an array's items by either spelling: a user's
        ADDRESS items have their parts at ``addresses[].city``, a cart's object items theirs
        at ``items.sku``, and a caller writes either (no other field can have the other)."""
        return self.by_path.get(path) or self._by_either_path.get(_either_way(path))

    @cached_property
    def derived_paths(self) -> frozenset[str]:
        return frozenset(rule.derive for rule in self.rules if rule.derive)

    def top_level_names(self) -> list[str]:
        return [spec.name for spec in self.fields]

    @cached_property
    def level_of(self) -> dict[str, str]:
        """For each field path, the innermost enclosing array path ('' for the record itself).

        Values at one level share a row count: the record count at '', the total item count of
        an array at that array's path.
        """
        levels: dict[str, str] = {}

        def visit(spec: FieldSpec, level: str) -> None:
            levels[spec.path] = level
            for child in spec.children:
                visit(child, level)
            if spec.item is not None:
                visit(spec.item, spec.path)

        for top in self.fields:
            visit(top, "")
        return levels


def _either_way(path: str) -> str:
    return path.replace("[].", ".")


def child_path(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def item_path(array_path: str) -> str:
    """Array items live at ``<array>[]``; the fields of object items at ``<array>.<field>``."""
    return f"{array_path}[]"


def int_bounds(spec: FieldSpec, default: tuple[int, int]) -> tuple[int, int]:
    """Whole numbers to draw between: the field's bounds, ``default`` where it sets none (and
    the default's span past a one-sided bound)."""
    lo = math.ceil(spec.minimum) if spec.minimum is not None else default[0]
    hi = math.floor(spec.maximum) if spec.maximum is not None else default[1]
    if spec.minimum is not None and spec.maximum is None:
        hi = max(hi, lo + default[1] - default[0])
    if spec.maximum is not None and spec.minimum is None:
        lo = min(lo, hi - (default[1] - default[0]))
    return lo, hi


def time_bounds(spec: FieldSpec) -> tuple[int, int]:
    """Epoch seconds to draw between: the field's bounds, a default span past a one-sided one,
    never outside the years 1 … 9999 (a min in 9999 once drew into year 10000)."""
    lo, hi = int_bounds(spec, (DEFAULT_FROM, DEFAULT_TO))
    return max(lo, TIME_RANGE[0]), min(hi, TIME_RANGE[1])
