"""A schema compiled to Python source that answers one question: are all these records valid?

``validation.validate_records`` reports every error of every record through one closure per
field: four or five Python calls per value, about 29 µs per cart. Almost every batch it sees is
valid (the traditional path's records always are), so it first asks this yes/no check, which
inlines the cheap checks (types, bounds, lengths, enums, whole cents) into straight-line code
per object level (about 3x faster), and runs the detailed validator only when the answer is
no. The rules are the detailed validator's, term for term; the expensive checks (dates, emails,
phones, UUIDs) call its very functions. Any exception here means "not sure": the detailed
validator then decides (and raises, if it raises).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from tda.domain import regexes
from tda.domain.bounded_cache import cached_by_size
from tda.domain.contract import FieldType
from tda.domain.schema.spec import (
    MONEY_VALID_END,
    EntitySpec,
    FieldSpec,
    is_id_pattern,
    pattern_to_regex,
)
from tda.domain.validation.checks import (
    INT_MAX,
    INT_MIN,
    META_PREFIX,
    TYPE_CHECKS,
    parse_temporal,
    whole_cents,
)

AllValid = Callable[[list[Any]], bool]
# The scalar types ``_type_test`` writes out inline; every test of these fails None. The rest
# (emails, phones, UUIDs, address lines) call the detailed validator's check instead.
_TESTED_INLINE = frozenset(
    {FieldType.STRING, FieldType.INTEGER, FieldType.FLOAT, FieldType.BOOLEAN, FieldType.ENUM,
     FieldType.DATE, FieldType.DATETIME}
)  # fmt: skip
_SLACK = 1e-9  # as the detailed validator's bounds


@cached_by_size(256)  # bounded by count and size: callers' schemas are keys
def compile_all_valid(spec: EntitySpec) -> AllValid:
    source = _Source()
    root = source.object_function(spec.fields, allow_meta=True)
    source.lines += [
        "def all_valid(records):",
        "    try:",
        "        for record in records:",
        f"            if not {root}(record):",
        "                return False",
        "    except Exception:",
        "        return False",
        "    return True",
    ]
    namespace = dict(source.names)
    exec("\n".join(source.lines), namespace)  # our own source, built from our own schema
    compiled: AllValid = namespace["all_valid"]
    return compiled


class _Source:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "isfinite": math.isfinite,
            "parse_temporal": parse_temporal,
            "whole_cents": whole_cents,
            "fromisodate": date.fromisoformat,
            "fromisodatetime": datetime.fromisoformat,
            "META_PREFIX": META_PREFIX,
        }

    def name(self, prefix: str, value: Any) -> str:
        key = f"{prefix}{len(self.names)}"
        self.names[key] = value
        return key

    def object_function(self, fields: tuple[FieldSpec, ...], allow_meta: bool) -> str:
        body: list[str] = []
        for f in fields:
            body += self._field(f)
        known = self.name("known", frozenset(f.name for f in fields))
        name = self.name("obj", None)
        extra = (
            f"k not in {known} and not (isinstance(k, str) and k.startswith(META_PREFIX))"
            if allow_meta
            else f"k not in {known}"
        )
        self.lines += [
            f"def {name}(v):",
            "    if type(v) is not dict:",
            "        return False",
            *body,
            f"    if len(v) > {len(fields)} or not {known}.issuperset(v):",
            "        for k in v:",
            f"            if {extra}:",
            "                return False",
            "    return True",
            "",
        ]
        return name

    def _field(self, f: FieldSpec) -> list[str]:
        # Missing and None are alike here (the detailed validator treats them the same).
        read = f"    x = v.get({f.name!r})"
        if f.required and self._rejects_none(f):
            return [read, *self._value(f, "x", depth=1)]  # the type test itself fails None
        if f.required:
            return [read, "    if x is None:", "        return False", *self._value(f, "x", 1)]
        return [read, "    if x is not None:", *self._value(f, "x", depth=2)]

    @staticmethod
    def _rejects_none(f: FieldSpec) -> bool:
        """Whether the field's own type test is false for None (every test but a check call)."""
        return f.is_object or f.is_array or f.type in _TESTED_INLINE

    def _value(self, f: FieldSpec, var: str, depth: int) -> list[str]:
        pad = "    " * depth
        fail = f"{pad}    return False"
        if f.is_object:
            checker = self.object_function(f.children, allow_meta=False)
            return [f"{pad}if not {checker}({var}):", fail]
        if f.is_array:
            return self._array(f, var, depth)
        lines = [f"{pad}if not ({self._type_test(f, var)}):", fail]
        for test in self._constraint_failures(f, var):
            lines += [f"{pad}if {test}:", fail]
        return lines

    def _array(self, f: FieldSpec, var: str, depth: int) -> list[str]:
        assert f.item is not None
        pad = "    " * depth
        fail = f"{pad}    return False"
        lines = [f"{pad}if type({var}) is not list:", fail]
        if f.min_length is not None:
            lines += [f"{pad}if len({var}) < {f.min_length}:", fail]
        if f.max_length is not None:
            lines += [f"{pad}if len({var}) > {f.max_length}:", fail]
        item = f"e{depth}"
        none_case = ["        return False"] if f.item.required else ["        continue"]
        lines += [
            f"{pad}for {item} in {var}:",
            f"{pad}    if {item} is None:",
            *(f"{pad}{line}" for line in none_case),
            *self._value(f.item, item, depth + 1),
        ]
        return lines

    def _type_test(self, f: FieldSpec, var: str) -> str:
        # Exact types (``type(x) is str``) are cheaper than isinstance and only stricter: a
        # subclass fails here and the detailed validator, which accepts it, decides.
        t = f.type
        if t is FieldType.STRING:
            return f"type({var}) is str"
        fits = f"{INT_MIN} <= {var} <= {INT_MAX}"  # as the detailed validator's
        if t is FieldType.INTEGER:
            return f"type({var}) is int and {fits}"
        if t is FieldType.FLOAT:
            number = (
                f"((type({var}) is float and isfinite({var})) or (type({var}) is int and {fits}))"
            )
            if f.is_money:
                inside = f"-{MONEY_VALID_END} < {var} < {MONEY_VALID_END}"
                cents = f"(abs((c := {var} * 100) - round(c)) < 1e-6 or whole_cents({var}))"
                return f"{number} and {inside} and {cents}"
            return number
        if t is FieldType.BOOLEAN:
            return f"({var} is True or {var} is False)"
        if t is FieldType.ENUM:
            return f"{var} in {self.name('allowed', frozenset(f.enum_values))}"
        if (
            t in (FieldType.DATE, FieldType.DATETIME)
            and not f.format
            and f.minimum is None
            and f.maximum is None
        ):
            # ISO text, no bounds: parse_temporal's very parse, without its call and epoch
            # arithmetic (a ValueError is "not sure": the detailed validator decides).
            parse = "fromisodate" if t is FieldType.DATE else "fromisodatetime"
            return f"type({var}) is str and {parse}({var}) is not None"
        if t in (FieldType.DATE, FieldType.DATETIME):
            return f"parse_temporal({self.name('spec', f)}, {var}) is not None"
        # Emails, phones, UUIDs, address lines: the detailed validator's own check.
        return f"{self.name('check', TYPE_CHECKS[t](f))}({var}) is None"

    def _constraint_failures(self, f: FieldSpec, var: str) -> list[str]:
        tests = []
        lo, hi = f.minimum, f.maximum
        if lo is not None or hi is not None:
            if f.type in (FieldType.INTEGER, FieldType.FLOAT):
                # The value itself: Python compares ints and floats exactly, and float(x) only
                # rounds monotonically, so this is never looser than the detailed float(x).
                number = var
            elif f.type in (FieldType.DATE, FieldType.DATETIME):
                number = f"(parse_temporal({self.name('spec', f)}, {var}) or 0.0)"
            else:
                number = ""
            if number and lo is not None:
                tests.append(f"{number} < {lo - _SLACK!r}")
            if number and hi is not None:
                tests.append(f"{number} > {hi + _SLACK!r}")
        if f.type is FieldType.STRING:
            if f.min_length is not None:
                tests.append(f"len({var}) < {f.min_length}")
            if f.max_length is not None:
                tests.append(f"len({var}) > {f.max_length}")
            if is_id_pattern(f.format):
                pattern = re.compile(pattern_to_regex(f.format or ""))
                tests.append(f"not {self.name('rx', pattern)}.fullmatch({var})")
        if f.regex is not None and f.type in (FieldType.STRING, FieldType.EMAIL, FieldType.PHONE):
            tests.append(f"not {self.name('rx', regexes.matcher(f.regex))}({var})")
        return tests
