"""Business rules as data: one small engine derives fields and checks records, column-wise.

A rule expression is a Python-syntax expression over field paths (``items.quantity``), evaluated
on whole columns with numpy: ``subtotal + tax``, ``sum(items.line_total)``, ``round(x * rate)``,
``where(cond, a, b)``, ``a if cond else b``, ``x in ['a', 'b']``, ``isnull(x)``, ``all(...)``,
``days(n)``, ``uniform(lo, hi)`` (random: a rule using it derives but never checks), plus the
domain checks ``same_occasion``, ``prices_fit`` (of a money field), ``email_matches`` and
``sku_matches_brand``. Money is in whole cents and datetimes in epoch seconds, so arithmetic is
exact.

Values carry the array level they live at ('' = the record, ``items`` = each item); mixing
levels broadcasts a record's value to its items, ``sum``/``all``/``any`` fold items back.
"""

from __future__ import annotations

import ast
import operator
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tda.domain.bounded_cache import cached_by_size
from tda.domain.catalog import ALL_OCCASIONS, Catalog, brand_code, load_catalog
from tda.domain.errors import SchemaDefinitionError
from tda.domain.records import ColumnBatch, offsets_of
from tda.domain.schema.spec import TEMPORAL, TIME_RANGE, EntitySpec, FieldSpec, RuleSpec
from tda.domain.text import slug

RANDOM_FUNCTIONS = frozenset({"uniform"})
NULL = None


@dataclass
class Vec:
    """A column under evaluation, and whether it holds a value per record or per item."""

    data: np.ndarray
    level: str


Value = Vec | float | int | str | bool | None | list[Any]


class RuleError(SchemaDefinitionError):
    """A rule expression uses something the engine does not know (a bug in the entity data)."""


@dataclass(frozen=True)
class CompiledRule:
    """A rule's expression parsed once, with the field it sets when it is a derivation."""

    rule: RuleSpec
    tree: ast.expr
    is_random: bool
    target: FieldSpec | None

    @property
    def checks(self) -> bool:
        return not self.is_random


# CPython 3.11 keeps the AST builder's recursion depth per interpreter, not per thread: two
# threads parsing at once can fail with "SystemError: AST constructor recursion depth mismatch"
# (python/cpython#106905; seen here when a fresh server compiled several entities' rules at
# once). Rules are parsed one at a time, and a parse hit by another library's is tried again.
_PARSING = threading.Lock()


def _parse(expr: str) -> ast.expr:
    with _PARSING:
        try:
            return ast.parse(expr, mode="eval").body
        except SystemError:
            return ast.parse(expr, mode="eval").body


@cached_by_size(256)  # bounded by count and size: callers' schemas are keys
def compile_rules(spec: EntitySpec) -> tuple[CompiledRule, ...]:
    compiled = []
    for rule in spec.rules:
        try:
            tree = _parse(rule.expr)
        except SyntaxError as exc:
            raise RuleError(f"{spec.name}.{rule.name}: {exc}") from exc
        calls = {
            n.func.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        target = spec.find(rule.derive) if rule.derive else None
        if rule.derive and target is None:
            raise RuleError(f"{spec.name}.{rule.name}: derives unknown field '{rule.derive}'")
        compiled.append(CompiledRule(rule, tree, bool(calls & RANDOM_FUNCTIONS), target))
    return tuple(compiled)


def referenced_paths(tree: ast.expr) -> set[str]:
    paths = set()
    for node in ast.walk(tree):
        path = _path_of(node)
        if path:
            paths.add(path)
    return paths


def _path_of(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _path_of(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


class Evaluator:
    """Evaluates rule expressions on one column batch."""

    def __init__(
        self,
        batch: ColumnBatch,
        spec: EntitySpec,
        rng: np.random.Generator | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.batch = batch
        self.spec = spec
        self.rng = rng
        self.catalog = catalog  # the plan's own (a model-written one), else the shipped one
        self.level = ""
        # Occasion masks by the columns they were read from (kept, so their ids stay theirs):
        # same_occasion and prices_fit read the same items' categories and names.
        self._masks: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def occasion_masks(self, categories: Vec, names: Vec) -> np.ndarray:
        """Per item, the occasions the catalog places it in (``_occasion_masks``), worked out
        once a batch for the same two columns."""
        key = (id(categories.data), id(names.data))
        found = self._masks.get(key)
        if found is None:
            masks = _occasion_masks(self.catalog or load_catalog(), categories.data, names.data)
            found = self._masks[key] = (categories.data, names.data, masks)
        return found[2]

    # -- public

    def evaluate(self, tree: ast.expr, level: str = "") -> Vec:
        self.level = level
        result = self._eval(tree)
        if isinstance(result, Vec):
            return self._to_level(result, level) if result.level != level else result
        rows = self.batch.rows_at(level, self.spec)
        fill = np.full(rows, np.nan) if result is None else np.full(rows, result)
        return Vec(fill, level)

    def fold_to_records(self, vec: Vec) -> np.ndarray:
        """A per-row boolean at any level → one boolean per record (all items must hold)."""
        while vec.level:
            vec = Vec(self._reduce(vec, np.logical_and), self.spec.level_of[vec.level])
        return vec.data.astype(bool)

    # -- evaluation

    def _eval(self, node: ast.AST) -> Value:
        if isinstance(node, ast.Constant):
            value: Value = node.value  # type: ignore[assignment]
            return value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self._eval(e) for e in node.elts]
        path = _path_of(node)
        if path is not None:
            return self._column(path)
        if isinstance(node, ast.BinOp):
            return self._binary(
                _BINARY[type(node.op)], self._eval(node.left), self._eval(node.right)
            )
        if isinstance(node, ast.UnaryOp):
            operand = self._eval(node.operand)
            if isinstance(node.op, ast.Not):
                return self._map(np.logical_not, operand)
            if isinstance(node.op, ast.USub):
                return self._map(np.negative, operand)
        if isinstance(node, ast.BoolOp):
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            values = [self._eval(v) for v in node.values]
            result = values[0]
            for value in values[1:]:
                result = self._binary(combine, result, value)
            return result
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.IfExp):
            return self._where(
                self._eval(node.test), self._eval(node.body), self._eval(node.orelse)
            )
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self._call(node.func.id, [self._eval(a) for a in node.args])
        raise RuleError(f"unsupported expression: {ast.unparse(node)}")

    def _column(self, path: str) -> Value:
        if path == "null":
            return NULL
        if path in ("true", "false"):
            return path == "true"
        spec = self.spec.find(path)
        if spec is None:
            raise RuleError(f"unknown field '{path}'")
        if spec.is_array:
            return Vec(self.batch.lengths[path], self.spec.level_of[path])
        return Vec(self.batch.values[path], self.spec.level_of[path])

    def _align(self, a: Value, b: Value) -> tuple[Any, Any, str]:
        if isinstance(a, Vec) and isinstance(b, Vec):
            if a.level == b.level:
                return a.data, b.data, a.level
            deeper, shallower = (
                (a, b)
                if a.level.count(".") + len(a.level) > b.level.count(".") + len(b.level)
                else (b, a)
            )
            lifted = self._to_level(shallower, deeper.level)
            return (
                (lifted.data, deeper.data, deeper.level)
                if shallower is a
                else (deeper.data, lifted.data, deeper.level)
            )
        if isinstance(a, Vec):
            return a.data, b, a.level
        if isinstance(b, Vec):
            return a, b.data, b.level
        return a, b, self.level

    def _to_level(self, vec: Vec, level: str) -> Vec:
        if vec.level == level:
            return vec
        chain = []
        current = level
        while current != vec.level:
            if not current:
                raise RuleError(f"cannot combine values at '{vec.level}' and '{level}'")
            chain.append(current)
            current = self.spec.level_of[current]
        data = vec.data
        for lvl in reversed(chain):
            data = np.repeat(data, self.batch.lengths[lvl])
        return Vec(data, level)

    def _binary(self, op: Callable[[Any, Any], Any], a: Value, b: Value) -> Value:
        if a is None or b is None:
            return NULL
        x, y, level = self._align(a, b)
        return (
            Vec(np.asarray(op(x, y)), level)
            if isinstance(a, Vec) or isinstance(b, Vec)
            else op(x, y)
        )

    def _map(self, fn: Callable[[Any], Any], value: Value) -> Value:
        if isinstance(value, Vec):
            return Vec(fn(value.data), value.level)
        return fn(value)

    def _compare(self, node: ast.Compare) -> Value:
        left = self._eval(node.left)
        result: Value = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self._eval(right_node)
            if isinstance(op, (ast.In, ast.NotIn)):
                part = self._membership(left, right, negate=isinstance(op, ast.NotIn))
            else:
                part = self._binary(_COMPARE[type(op)], left, right)
            result = part if result is True else self._binary(np.logical_and, result, part)
            left = right
        return result

    def _membership(self, value: Value, options: Value, negate: bool) -> Value:
        allowed = set(options if isinstance(options, list) else [options])
        if isinstance(value, Vec):
            hits = np.fromiter(
                (v in allowed for v in value.data.tolist()), dtype=bool, count=len(value.data)
            )
            return Vec(~hits if negate else hits, value.level)
        return (value in allowed) != negate

    def _where(self, cond: Value, a: Value, b: Value) -> Value:
        level = next((v.level for v in (cond, a, b) if isinstance(v, Vec)), self.level)
        rows = self.batch.rows_at(level, self.spec)
        c = self._as_level(cond, level, rows).astype(bool)
        textual = any(
            isinstance(v, str) or (isinstance(v, Vec) and v.data.dtype.kind == "O") for v in (a, b)
        )
        x, y = self._as_level(a, level, rows, textual), self._as_level(b, level, rows, textual)
        if textual:
            x, y = x.astype(object), y.astype(object)
        elif a is None or b is None or x.dtype.kind == "f" or y.dtype.kind == "f":
            x, y = x.astype(np.float64), y.astype(np.float64)
        return Vec(np.where(c, x, y), level)

    def _as_level(self, value: Value, level: str, rows: int, textual: bool = False) -> np.ndarray:
        if isinstance(value, Vec):
            return self._to_level(value, level).data
        if value is None and not textual:
            return np.full(rows, np.nan)
        if isinstance(value, str) or value is None:
            out = np.empty(rows, dtype=object)
            out[:] = value
            return out
        return np.full(rows, value)

    def _reduce(self, vec: Vec, ufunc: np.ufunc) -> np.ndarray:
        lengths = self.batch.lengths[vec.level]
        bounds = offsets_of(lengths)
        if ufunc is np.add:
            if vec.data.dtype.kind in "iub":
                total = np.concatenate([[0], np.cumsum(vec.data, dtype=np.int64)])
                return total[bounds[1:]] - total[bounds[:-1]]
            ids = np.repeat(np.arange(len(lengths)), lengths)
            return np.bincount(ids, weights=vec.data, minlength=len(lengths))
        identity = ufunc is np.logical_and
        data = vec.data.astype(bool)
        out = np.full(len(lengths), identity)
        nonempty = lengths > 0
        if nonempty.any():
            out[nonempty] = ufunc.reduceat(data, bounds[:-1][nonempty])
        return out

    # -- functions

    def _call(self, name: str, args: list[Value]) -> Value:
        fn = _FUNCTIONS.get(name)
        if fn is None:
            raise RuleError(f"unknown function '{name}'")
        return fn(self, args)


def _fold(ufunc: np.ufunc) -> Callable[[Evaluator, list[Value]], Value]:
    def run(ev: Evaluator, args: list[Value]) -> Value:
        (vec,) = args
        if not isinstance(vec, Vec) or not vec.level:
            raise RuleError("sum/all/any take a field of array items, e.g. sum(items.line_total)")
        return Vec(ev._reduce(vec, ufunc), ev.spec.level_of[vec.level])

    return run


def _uniform(ev: Evaluator, args: list[Value]) -> Value:
    lo, hi = (float(a) for a in args)  # type: ignore[arg-type]
    if ev.rng is None:
        raise RuleError("uniform() is only available while generating")
    rows = ev.batch.rows_at(ev.level, ev.spec)
    return Vec(np.floor(ev.rng.uniform(lo, hi + 1, rows)).clip(lo, hi), ev.level)


def _isnull(ev: Evaluator, args: list[Value]) -> Value:
    (value,) = args
    if not isinstance(value, Vec):
        return value is None
    data = value.data
    if data.dtype.kind == "f":
        return Vec(np.isnan(data), value.level)
    if data.dtype.kind == "O":
        return Vec(
            np.fromiter((v is None or v != v for v in data.tolist()), dtype=bool, count=len(data)),
            value.level,
        )
    return Vec(np.zeros(len(data), dtype=bool), value.level)


def _elementwise(fn: Callable[..., bool]) -> Callable[[Evaluator, list[Value]], Value]:
    def run(ev: Evaluator, args: list[Value]) -> Value:
        vecs = [a for a in args if isinstance(a, Vec)]
        level = vecs[0].level if vecs else ""
        rows = ev.batch.rows_at(level, ev.spec)
        columns = [ev._as_level(a, level, rows).tolist() for a in args]
        return Vec(
            np.fromiter((fn(*row) for row in zip(*columns, strict=True)), dtype=bool, count=rows),
            level,
        )

    return run


_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def _email_matches(email: Any, first: Any, last: Any) -> bool:
    """The email's local part carries the person's last name, or first name, or initial+last."""
    if not isinstance(email, str):
        return False
    local = _NOT_ALNUM.sub("", email.partition("@")[0].lower())
    names = [s for s in (slug(str(first or "")), slug(str(last or ""))) if s]
    return not names or any(n in local for n in names)


def _sku_matches_brand(sku: Any, brand: Any) -> bool:
    return (
        isinstance(sku, str) and isinstance(brand, str) and sku.startswith(brand_code(brand) + "-")
    )


def _same_occasion(ev: Evaluator, args: list[Value]) -> Value:
    categories, names = args
    if not isinstance(categories, Vec) or not categories.level or not isinstance(names, Vec):
        raise RuleError(
            "same_occasion takes item fields, e.g. same_occasion(items.category, items.name)"
        )
    masks = ev.occasion_masks(categories, names)
    lengths = ev.batch.lengths[categories.level]
    bounds = offsets_of(lengths)
    common = np.full(len(lengths), -1, dtype=np.int64)
    nonempty = lengths > 0
    if nonempty.any():
        common[nonempty] = np.bitwise_and.reduceat(masks, bounds[:-1][nonempty])
    return Vec(common != 0, ev.spec.level_of[categories.level])


def _prices_fit(ev: Evaluator, args: list[Value]) -> Value:
    """Per item (or product): its unit price is one the catalog's items of its kind could have
    (``Catalog.price_bounds_cents``); an item the catalog cannot place fits any price."""
    categories, names, prices = args
    if not (
        isinstance(categories, Vec)
        and isinstance(names, Vec)
        and isinstance(prices, Vec)
        and categories.level == names.level == prices.level
    ):
        raise RuleError(
            "prices_fit takes three fields of one level, e.g. "
            "prices_fit(items.category, items.name, items.price)"
        )
    catalog = ev.catalog or load_catalog()
    masks = ev.occasion_masks(categories, names)
    distinct, index = np.unique(masks, return_inverse=True)
    bounds = np.array([catalog.price_bounds_cents(int(m)) for m in distinct]).reshape(-1, 2)
    low, high = bounds[index, 0], bounds[index, 1]
    cents = prices.data.astype(np.float64)
    unplaced = masks == ALL_OCCASIONS
    return Vec(unplaced | ((cents >= low) & (cents <= high)), categories.level)


def _occasion_masks(catalog: Catalog, categories: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Occasion bit masks per item: one lookup per distinct category, keywords only when unknown."""
    known = catalog.category_masks
    values = categories.tolist()
    by_category = {c: known.get(c.lower()) if isinstance(c, str) else None for c in set(values)}
    looked_up = [by_category[c] for c in values]
    if None not in by_category.values():
        return np.array(looked_up, dtype=np.int64)
    return np.array(
        [
            m if m is not None else catalog.occasion_mask(c, n)
            for m, c, n in zip(looked_up, values, names.tolist(), strict=True)
        ],
        dtype=np.int64,
    )


def _unary(fn: Callable[[Any], Any]) -> Callable[[Evaluator, list[Value]], Value]:
    def run(ev: Evaluator, args: list[Value]) -> Value:
        (value,) = args
        return ev._map(fn, value)

    return run


def _pairwise(fn: Callable[[Any, Any], Any]) -> Callable[[Evaluator, list[Value]], Value]:
    def run(ev: Evaluator, args: list[Value]) -> Value:
        a, b = args
        return ev._binary(fn, a, b)

    return run


_FUNCTIONS: dict[str, Callable[[Evaluator, list[Value]], Value]] = {
    "sum": _fold(np.add),
    "all": _fold(np.logical_and),
    "any": _fold(np.logical_or),
    "round": _unary(np.rint),
    "abs": _unary(np.abs),
    "min": _pairwise(np.minimum),
    "max": _pairwise(np.maximum),
    "days": lambda ev, args: float(args[0]) * 86400,  # type: ignore[arg-type]
    "hours": lambda ev, args: float(args[0]) * 3600,  # type: ignore[arg-type]
    "uniform": _uniform,
    "isnull": _isnull,
    "where": lambda ev, args: ev._where(*args),
    "same_occasion": _same_occasion,
    "prices_fit": _prices_fit,
    "email_matches": _elementwise(_email_matches),
    "sku_matches_brand": _elementwise(_sku_matches_brand),
}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


# --------------------------------------------------------------------------- derive and check


def cast_for(target: FieldSpec, data: np.ndarray) -> np.ndarray:
    """A derived column in the target field's internal form."""
    if data.dtype.kind == "O":
        return data
    if data.dtype.kind == "b":
        return data
    if target.type in TEMPORAL:  # a date derived past 9999-12-31T23:59:59Z ends there
        return np.clip(data.astype(np.float64), TIME_RANGE[0], TIME_RANGE[1])
    if target.is_money or target.type.value == "INTEGER":
        rounded = np.rint(data)
        if not (np.abs(rounded) < _INT64_END).all():  # NaN, or past int64: a cast made garbage
            return rounded  # (a model's price of 1e17 made a negative line total)
        return rounded.astype(np.int64)
    return data.astype(np.float64)


_INT64_END = float(2**63)


def derive(
    batch: ColumnBatch,
    spec: EntitySpec,
    rng: np.random.Generator,
    only: frozenset[str] | None = None,
    catalog: Catalog | None = None,
) -> None:
    """Compute every derived field in rule order (optionally only some), in place."""
    evaluator = Evaluator(batch, spec, rng, catalog)
    for compiled in compile_rules(spec):
        if compiled.target is None or (only is not None and compiled.target.path not in only):
            continue
        level = spec.level_of[compiled.target.path]
        result = evaluator.evaluate(compiled.tree, level)
        batch.values[compiled.target.path] = cast_for(compiled.target, result.data)


@dataclass(frozen=True)
class RuleOutcome:
    """Which records kept a rule."""

    rule: RuleSpec
    passed: np.ndarray  # one boolean per record


def check(
    batch: ColumnBatch, spec: EntitySpec, catalog: Catalog | None = None
) -> list[RuleOutcome]:
    """Every checkable rule against every record: checks, and derivations recomputed."""
    evaluator = Evaluator(batch, spec, catalog=catalog)
    outcomes = []
    for compiled in compile_rules(spec):
        if not compiled.checks:
            continue
        target = compiled.target
        if target is None:
            result = evaluator.evaluate(compiled.tree)
            data = result.data
            if data.dtype.kind == "O":
                data = np.fromiter((bool(v) for v in data.tolist()), dtype=bool, count=len(data))
            passed = evaluator.fold_to_records(Vec(np.asarray(data, dtype=bool), result.level))
        else:
            level = spec.level_of[target.path]
            expected = evaluator.evaluate(compiled.tree, level)
            actual = batch.values[target.path]
            ok = _matches(target, expected.data, actual, compiled.rule.tolerance)
            passed = evaluator.fold_to_records(Vec(ok, level))
        outcomes.append(RuleOutcome(compiled.rule, passed))
    return outcomes


def _matches(
    target: FieldSpec, expected: np.ndarray, actual: np.ndarray, tolerance: float
) -> np.ndarray:
    if expected.dtype.kind == "O" or actual.dtype.kind == "O":
        return np.fromiter(
            (
                a == e or (a is None and (e is None or e != e))
                for a, e in zip(actual.tolist(), expected.tolist(), strict=True)
            ),
            dtype=bool,
            count=len(actual),
        )
    exp = expected.astype(np.float64)
    act = actual.astype(np.float64)
    if target.is_money:
        exp = np.rint(exp)
    tol = tolerance * 100 if target.is_money else tolerance
    both_null = np.isnan(exp) & np.isnan(act)
    with np.errstate(invalid="ignore"):
        return both_null | (np.abs(exp - act) <= tol + 1e-9)
