"""Build ``EntitySpec`` trees from entity data files, caller schemas and request constraints.

Every way a schema can be wrong is reported here, field by field, before anything is generated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from tda.domain import regexes
from tda.domain.contract import FieldConstraint, FieldDef, FieldType
from tda.domain.errors import FieldIssue, InvalidRequestError, SchemaDefinitionError, shown
from tda.domain.schema.spec import (
    ADDRESS_LINE_FORMAT,
    MAX_STRING_LENGTH,
    MONEY_END,
    MONEY_FORMAT,
    NUMERIC,
    TEMPORAL,
    TIME_RANGE,
    EntitySpec,
    FieldSpec,
    RuleSpec,
    child_path,
    draws_a_token,
    is_id_pattern,
    item_path,
    pattern_length,
    time_bounds,
)
from tda.domain.schema.temporal_formats import format_problem

MAX_DEPTH = 6
MAX_FIELDS = 500
MAX_ARRAY_LENGTH = 1000
FIELD_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_NAME = re.compile(FIELD_NAME_PATTERN)
# An ARRAY's one nested field under one of these names is its item (any other names: an object).
ARRAY_ITEM_NAMES = frozenset({"", "item", "_item"})
# The types whose nested_fields mean something (an ADDRESS without them has the usual parts).
NESTING_TYPES = (FieldType.OBJECT, FieldType.ARRAY, FieldType.ADDRESS)
_TEMPORAL_FORMATS = frozenset({"iso8601", "epoch"})

ADDRESS_PARTS: tuple[tuple[str, str], ...] = (
    ("street", "address.street"),
    ("city", "address.city"),
    ("state", "address.state"),
    ("postal_code", "address.postcode"),
    ("country", "address.country"),
)


def address_children(path: str) -> tuple[FieldSpec, ...]:
    """The parts of an ADDRESS value: one coherent row of the locale's address pool."""
    return tuple(
        FieldSpec(name=name, type=FieldType.STRING, path=child_path(path, name), generator=gen)
        for name, gen in ADDRESS_PARTS
    )


# --------------------------------------------------------------------------- entity data files


def spec_from_data(data: Mapping[str, Any]) -> EntitySpec:
    """An entity definition from its data file (see ``schema/entities/*.yaml``)."""
    try:
        name = str(data["name"])
        fields = tuple(
            _field_from_data(fname, fdata, fname, depth=1)
            for fname, fdata in dict(data["fields"]).items()
        )
        rules = tuple(_rule_from_data(i, raw) for i, raw in enumerate(data.get("rules", [])))
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaDefinitionError(f"entity {data.get('name', '?')}: {exc}") from exc
    spec = EntitySpec(
        name=name,
        domain=str(data.get("domain", "ecommerce")),
        description=str(data.get("description", "")),
        fields=fields,
        rules=rules,
        primary_key=data.get("primary_key"),
    )
    issues = check_spec(spec, prefix=f"entity {name}")
    if issues:
        raise SchemaDefinitionError("; ".join(map(str, issues)))
    return spec


def _field_from_data(name: str, data: Mapping[str, Any], path: str, depth: int) -> FieldSpec:
    ftype = FieldType(str(data.get("type", "string")).upper())
    children: tuple[FieldSpec, ...] = ()
    item: FieldSpec | None = None
    if ftype is FieldType.OBJECT:
        children = tuple(
            _field_from_data(cname, cdata, child_path(path, cname), depth + 1)
            for cname, cdata in dict(data["fields"]).items()
        )
    elif ftype is FieldType.ADDRESS and data.get("format") != ADDRESS_LINE_FORMAT:
        children = address_children(path)
    elif ftype is FieldType.ARRAY:
        item_data = dict(data.get("item", {"type": "string"}))
        item = _array_item_from_data(item_data, path, depth)
    values = data.get("enum_values", data.get("values", ()))
    return FieldSpec(
        name=name,
        type=ftype,
        path=path,
        required=bool(data.get("required", True)),
        description=str(data.get("description", "")),
        children=children,
        item=item,
        minimum=_opt_float(data.get("min")),
        maximum=_opt_float(data.get("max")),
        enum_values=tuple(str(v) for v in values),
        enum_weights=tuple(float(w) for w in data.get("weights", ())),
        regex=data.get("regex"),
        min_length=data.get("min_length"),
        max_length=data.get("max_length"),
        format=data.get("format"),
        generator=data.get("generator"),
        unique=bool(data.get("unique", False)),
        choices=tuple(data.get("choices", ())),
    )


def _array_item_from_data(data: dict[str, Any], array_path: str, depth: int) -> FieldSpec:
    ipath = item_path(array_path)
    if str(data.get("type", "string")).upper() == "OBJECT":
        children = tuple(
            _field_from_data(cname, cdata, child_path(array_path, cname), depth + 1)
            for cname, cdata in dict(data["fields"]).items()
        )
        return FieldSpec(
            name="item",
            type=FieldType.OBJECT,
            path=ipath,
            children=children,
            generator=data.get("generator"),
        )
    return _field_from_data("item", data, ipath, depth + 1)


def _rule_from_data(position: int, data: Mapping[str, Any]) -> RuleSpec:
    derive = data.get("derive")
    expr = data.get("expr") if derive else data.get("check")
    if not expr:
        raise ValueError(f"rule {position}: needs 'derive' + 'expr' or 'check'")
    return RuleSpec(
        name=str(data.get("name") or (f"derive_{derive}" if derive else f"check_{position}")),
        expr=str(expr),
        derive=derive,
        category=str(data.get("category", "consistency")),
        weight=float(data.get("weight", 1.0)),
        tolerance=float(data.get("tolerance", 0.0)),
        message=str(data.get("message", "")),
    )


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


# --------------------------------------------------------------------------- caller schemas


def spec_from_fields(
    entity: str,
    domain: str,
    fields: list[FieldDef],
    constraints: Mapping[str, FieldConstraint] | None = None,
) -> EntitySpec:
    """A caller's schema (the proto's Field list) with the request's constraints laid on.

    The whole is checked after the constraints are applied: an ENUM field's values, say, come
    from the constraints, not from the Field message.
    """
    issues: list[FieldIssue] = []
    if not fields:
        issues.append(FieldIssue("schema.fields", "must list at least one field"))
    built = tuple(
        _field_from_def(fdef, fdef.name, f"schema.fields[{i}]", 1, issues)
        for i, fdef in enumerate(fields)
    )
    if issues:
        raise InvalidRequestError(issues)
    spec = EntitySpec(
        name=entity or "record",
        domain=domain or "custom",
        description="caller-supplied schema",
        fields=built,
        custom=True,
    )
    spec = apply_constraints(spec, constraints or {}, final_check=False)
    issues = check_spec(spec, prefix="schema")
    if issues:
        raise InvalidRequestError(issues)
    return spec


def _field_from_def(
    fdef: FieldDef, path: str, where: str, depth: int, issues: list[FieldIssue]
) -> FieldSpec:
    if depth > MAX_DEPTH:
        issues.append(FieldIssue(where, f"nesting deeper than {MAX_DEPTH} levels"))
        return FieldSpec(name=fdef.name, type=FieldType.STRING, path=path)
    children: tuple[FieldSpec, ...] = ()
    item: FieldSpec | None = None
    nested = fdef.nested_fields

    def build_nested(parent: str) -> tuple[FieldSpec, ...]:
        return tuple(
            _field_from_def(
                n, child_path(parent, n.name), f"{where}.nested_fields[{i}]", depth + 1, issues
            )
            for i, n in enumerate(nested)
        )

    if fdef.type is FieldType.OBJECT:
        if not nested:
            issues.append(
                FieldIssue(f"{where}.nested_fields", "an OBJECT field needs nested_fields")
            )
        children = build_nested(path)
    elif fdef.type is FieldType.ADDRESS:
        children = build_nested(path) if nested else address_children(path)
    elif fdef.type is FieldType.ARRAY:
        ipath = item_path(path)
        if len(nested) == 1 and nested[0].name in ARRAY_ITEM_NAMES:
            only = nested[0].model_copy(update={"name": "item"})
            item = _field_from_def(only, ipath, f"{where}.nested_fields[0]", depth + 1, issues)
        elif nested:
            item = FieldSpec(
                name="item", type=FieldType.OBJECT, path=ipath, children=build_nested(path)
            )
        else:
            item = FieldSpec(name="item", type=FieldType.STRING, path=ipath)
    elif nested:
        issues.append(
            FieldIssue(
                f"{where}.nested_fields",
                f"only OBJECT, ARRAY and ADDRESS fields take nested_fields, not {fdef.type.value}",
            )
        )
    return FieldSpec(
        name=fdef.name,
        type=fdef.type,
        path=path,
        required=fdef.required,
        description=fdef.description,
        children=children,
        item=item,
    )


# --------------------------------------------------------------------------- request constraints


def apply_constraints(
    spec: EntitySpec, constraints: Mapping[str, FieldConstraint], final_check: bool = True
) -> EntitySpec:
    """The entity with a request's constraints laid over its own, each checked first."""
    if not constraints:
        return spec
    issues: list[FieldIssue] = []
    replacements: dict[str, FieldSpec] = {}
    for key, constraint in constraints.items():
        where = f"constraints.{key}"
        target = spec.find(key) or spec.find(item_path(key))
        if target is None:
            issues.append(FieldIssue(where, f"no field '{key}' in {spec.name}"))
            continue
        if (
            target.is_array
            and target.item is not None
            and target.item.is_scalar
            and _has_value_constraint(constraint)
        ):
            # value constraints on an array of scalars apply to its items; lengths to the array
            item = _constrained(target.item, constraint, where, issues, lengths=False)
            replacements[item.path] = item
            target = _constrained(target, constraint, where, issues, values=False)
        else:
            target = _constrained(target, constraint, where, issues)
        replacements[target.path] = target
    if issues:
        raise InvalidRequestError(issues)
    updated = EntitySpec(
        name=spec.name,
        domain=spec.domain,
        description=spec.description,
        fields=tuple(_replace_in(f, replacements) for f in spec.fields),
        rules=spec.rules,
        primary_key=spec.primary_key,
        custom=spec.custom,
    )
    problems = check_spec(updated, prefix="constraints") if final_check else []
    if problems:
        raise InvalidRequestError(problems)
    return updated


def _has_value_constraint(c: FieldConstraint) -> bool:
    return c.min is not None or c.max is not None or bool(c.enum_values) or c.regex is not None


def _constrained(
    spec: FieldSpec,
    c: FieldConstraint,
    where: str,
    issues: list[FieldIssue],
    *,
    values: bool = True,
    lengths: bool = True,
) -> FieldSpec:
    changes: dict[str, Any] = {}
    if values:
        if c.min is not None:
            changes["minimum"] = c.min
        if c.max is not None:
            changes["maximum"] = c.max
        if c.enum_values:
            changes["enum_values"] = tuple(c.enum_values)
            changes["enum_weights"] = ()
        if c.regex is not None:
            changes["regex"] = c.regex
            changes["generator"] = None
        if c.format is not None:
            changes["format"] = c.format
            if is_id_pattern(c.format):  # as a regex: the pattern makes the values
                changes["generator"] = None
    if lengths:
        if c.min_length is not None:
            changes["min_length"] = c.min_length
        if c.max_length is not None:
            changes["max_length"] = c.max_length
    # The checks of check_spec name the field by its path; tag them with the constraint key here.
    probe = spec.with_changes(**changes)
    for issue in _field_issues(probe, where):
        issues.append(issue)
    return probe


def _replace_in(spec: FieldSpec, replacements: Mapping[str, FieldSpec]) -> FieldSpec:
    base = replacements.get(spec.path, spec)
    children = tuple(_replace_in(c, replacements) for c in base.children)
    item = _replace_in(base.item, replacements) if base.item is not None else None
    if children == base.children and item is base.item:
        return base
    return base.with_changes(children=children, item=item)


# --------------------------------------------------------------------------- consistency checks


def check_spec(spec: EntitySpec, prefix: str) -> list[FieldIssue]:
    """Every inconsistency in a compiled schema (duplicate names, bad bounds, bad regexes...)."""
    issues: list[FieldIssue] = []
    count = 0

    def visit(fields: Iterable[FieldSpec], depth: int, where: str) -> None:
        nonlocal count
        seen: set[str] = set()
        for i, f in enumerate(fields):
            count += 1
            label = f"{prefix}.{f.path}" if prefix != "constraints" else f"constraints.{f.path}"
            if f.name != "item" or not f.path.endswith("[]"):
                if not _NAME.fullmatch(f.name):
                    # Named by its place: a path made of the bad name itself read "schema." for
                    # an empty one.
                    place = "fields" if depth == 1 else "nested_fields"
                    issues.append(
                        FieldIssue(
                            f"{where}.{place}[{i}].name",
                            f"field names are letters, digits and _, not starting with a digit "
                            f"(got {shown(f.name)})",
                        )
                    )
                if f.name in seen:
                    issues.append(FieldIssue(label, f"duplicate field name '{f.name}'"))
                seen.add(f.name)
            if depth > MAX_DEPTH:
                issues.append(FieldIssue(label, f"nesting deeper than {MAX_DEPTH} levels"))
                continue
            if prefix != "constraints":
                issues.extend(_field_issues(f, label))
            visit(f.children, depth + 1, label)
            if f.item is not None:
                visit(f.item.children, depth + 1, label)
                if f.item.is_scalar and prefix != "constraints":
                    issues.extend(_field_issues(f.item, f"{label}[]"))
                if f.item.is_array:
                    visit((f.item,), depth + 1, label)

    visit(spec.fields, 1, prefix)
    if count > MAX_FIELDS:
        issues.append(FieldIssue(prefix, f"more than {MAX_FIELDS} fields"))
    return issues


# Bounds a request may give, past which draws overflowed (numpy's int64, cents in int64):
# integers exact as the float a bound is, money as much as an override may set.
_INTEGER_BOUND = 2**53


def bound_limit(f: FieldSpec) -> int | None:
    """The largest magnitude a record holds for ``f`` (None: any finite float)."""
    if f.is_money:
        return MONEY_END
    return _INTEGER_BOUND if f.type is FieldType.INTEGER else None


_OUTSIDE_TIME = (
    f"must be between {TIME_RANGE[0]} and {TIME_RANGE[1]} epoch seconds "
    "(0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z)"
)


def _kind(f: FieldSpec) -> str:
    return "a money field" if f.is_money else f"an {f.type.value} field"


def _field_issues(f: FieldSpec, where: str) -> list[FieldIssue]:
    issues: list[FieldIssue] = []

    def bad(attr: str, message: str) -> None:
        issues.append(FieldIssue(f"{where}.{attr}", message))

    numeric_like = f.type in NUMERIC or f.type in TEMPORAL
    for attr, value in (("min", f.minimum), ("max", f.maximum)):
        if value is None:
            continue
        if not numeric_like:
            bad(
                attr,
                f"min/max apply to numbers and dates; for {f.type.value} use min_length/max_length",
            )
        elif not math.isfinite(value):
            bad(attr, "must be a finite number")
        elif (limit := bound_limit(f)) is not None and not -limit <= value <= limit:
            bad(attr, f"must be between -{limit:,} and {limit:,} for {_kind(f)}")
        elif f.type in TEMPORAL and not TIME_RANGE[0] <= value <= TIME_RANGE[1]:
            bad(attr, _OUTSIDE_TIME)
    if (
        f.type is FieldType.FLOAT
        and not issues
        and f.minimum is not None
        and f.maximum is not None
        and not math.isfinite(f.maximum - f.minimum)
    ):
        bad("max", "max - min must be a finite number (the values are drawn between them)")
    if f.minimum is not None and f.maximum is not None and f.minimum > f.maximum:
        bad("min", f"min ({f.minimum:g}) is greater than max ({f.maximum:g})")
    if f.type in TEMPORAL and not issues and f.minimum is not None and f.maximum is not None:
        unit = 86400 if f.type is FieldType.DATE else 1
        if math.ceil(f.minimum / unit) > math.floor(f.maximum / unit):
            span = "day" if unit == 86400 else "second"
            bad(
                "min",
                f"no whole {span} lies between min ({f.minimum:g}) and max ({f.maximum:g}) (epoch seconds)",
            )
    if f.type is FieldType.INTEGER and not issues:
        lo = math.ceil(f.minimum) if f.minimum is not None else None
        hi = math.floor(f.maximum) if f.maximum is not None else None
        if lo is not None and hi is not None and lo > hi:
            bad("min", f"no integer lies between min ({f.minimum:g}) and max ({f.maximum:g})")
    if (
        f.is_money
        and not issues
        and f.minimum is not None
        and f.maximum is not None
        and math.ceil(round(f.minimum * 100, 6)) > math.floor(round(f.maximum * 100, 6))
    ):
        bad(
            "min",
            f"no amount in whole cents lies between min ({f.minimum:g}) and max ({f.maximum:g})",
        )
    if f.type is FieldType.ENUM and not f.enum_values:
        bad("enum_values", "an ENUM field needs enum_values")
    if f.enum_values and f.type is not FieldType.ENUM:
        bad("enum_values", f"enum_values apply to ENUM fields, not {f.type.value}")
    if f.enum_weights and len(f.enum_weights) != len(f.enum_values):
        bad("weights", "needs one weight per enum value")
    if f.regex is not None:
        if f.type not in (FieldType.STRING, FieldType.EMAIL, FieldType.PHONE):
            bad("regex", f"regex applies to STRING, EMAIL and PHONE fields, not {f.type.value}")
        else:
            try:
                regexes.check(f.regex, max_length=MAX_STRING_LENGTH)
            except regexes.RegexError as exc:
                bad("regex", str(exc))
    for attr, value in (("min_length", f.min_length), ("max_length", f.max_length)):
        if value is None:
            continue
        if f.type not in (FieldType.STRING, FieldType.ARRAY):
            bad(attr, f"min_length/max_length apply to STRING and ARRAY fields, not {f.type.value}")
        elif value < 0:
            bad(attr, "must not be negative")
        elif f.type is FieldType.ARRAY and value > MAX_ARRAY_LENGTH:
            bad(attr, f"arrays hold at most {MAX_ARRAY_LENGTH} items")
        elif f.type is FieldType.STRING and value > MAX_STRING_LENGTH:
            bad(attr, f"strings are at most {MAX_STRING_LENGTH} characters long")
    if f.min_length is not None and f.max_length is not None and f.min_length > f.max_length:
        bad(
            "min_length", f"min_length ({f.min_length}) is greater than max_length ({f.max_length})"
        )
    if f.type is FieldType.STRING and f.max_length == 0 and f.required:
        bad("max_length", "a required string cannot have max_length 0")
    if f.format is not None:
        issues.extend(_format_issues(f, where))
    if f.unique and not (f.type is FieldType.UUID or draws_a_token(f.format)):
        # ({year} alone is an id pattern with nothing to tell values apart: a StopIteration.)
        bad(
            "format",
            "this field's values are unique: an id pattern with {random:N} or {digits:N} "
            "(such as 'ORD-{random:7}') makes them",
        )
    return issues


def _format_issues(f: FieldSpec, where: str) -> list[FieldIssue]:
    fmt = f.format or ""
    if f.type in TEMPORAL:
        if fmt not in _TEMPORAL_FORMATS and "%" not in fmt:
            return [
                FieldIssue(
                    f"{where}.format",
                    "dates take 'iso8601', 'epoch' or a strftime format like '%Y-%m-%d'",
                )
            ]
        if fmt in _TEMPORAL_FORMATS:
            return []
        problem = format_problem(fmt, f.type, *time_bounds(f), f.minimum)
        return [FieldIssue(f"{where}.format", problem)] if problem else []
    if f.type is FieldType.FLOAT:
        if fmt != MONEY_FORMAT:
            return [FieldIssue(f"{where}.format", "FLOAT fields take format 'money' (whole cents)")]
        return []
    if f.type is FieldType.ADDRESS:
        return []
    if f.type is FieldType.STRING:
        if not is_id_pattern(fmt):
            return [
                FieldIssue(
                    f"{where}.format",
                    "STRING formats are id patterns with {year}, {random:N} or {digits:N}, e.g. 'INV-{year}-{digits:6}'",
                )
            ]
        if f.regex is not None:
            return [FieldIssue(f"{where}.format", "give either an id format or a regex, not both")]
        return _pattern_length_issues(f, where)
    return [FieldIssue(f"{where}.format", f"{f.type.value} fields take no format")]


def _pattern_length_issues(f: FieldSpec, where: str) -> list[FieldIssue]:
    # {random:1000000} made 1 GB for 1,000 records, 20 s of one worker, before any limit
    # looked; a fixed length that min_length/max_length refuse was a generator bug.
    length = pattern_length(f.format or "")
    said = f"makes values of {length:,} characters" if length < 10**9 else "makes huge values"
    if length > MAX_STRING_LENGTH:
        return [FieldIssue(f"{where}.format", f"{said}; at most {MAX_STRING_LENGTH:,}")]
    if f.min_length is not None and length < f.min_length:
        return [FieldIssue(f"{where}.format", f"{said}, fewer than min_length {f.min_length}")]
    if f.max_length is not None and length > f.max_length:
        return [FieldIssue(f"{where}.format", f"{said}, more than max_length {f.max_length}")]
    return []
