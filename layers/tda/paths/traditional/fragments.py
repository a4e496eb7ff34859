"""JSON text straight from a column batch, without building a dict per record.

The bulk JSON/NDJSON path spends most of its time building dicts and serializing them one by
one. Here each column is encoded once (one ``orjson.dumps`` of the whole column, split into
values), and each level's objects are assembled by a compiled f-string template. The text
parses back to exactly the records ``columns.assemble`` builds (tests/unit/test_bulk_text_path.py
and the hypothesis property test hold the two paths to each other).

This is the reference path; ``native_program.record_blob`` writes the same bytes with the
compiled renderer where it was built, and falls back to ``record_texts`` here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import orjson

from tda.domain.bounded_cache import cached_by_size
from tda.domain.contract import FieldType
from tda.domain.records import ColumnBatch, format_temporal
from tda.domain.schema.spec import TEMPORAL, EntitySpec, FieldSpec

# A column encoded for a template: the values, and whether the template must quote them.
# Unquoted strings are already JSON text ("null", "true", an object, a number); the few ints
# left as ints (``_index``, epoch timestamps) are formatted by the template itself.
Encoded = tuple[list[Any], bool]
# A meta column (``_index`` as a range, ``_scenario`` as an object array of JSON texts).
Meta = Sequence[tuple[str, tuple[Sequence[Any], bool]]]

_BOOLEAN_TEXT = np.array(["false", "true"], dtype=object)


def record_texts(batch: ColumnBatch, spec: EntitySpec, meta: Meta) -> list[str]:
    """One JSON object text per record: the ``meta`` columns first, then the schema's fields."""
    names = tuple(name for name, _ in meta) + tuple(f.name for f in spec.fields)
    encoded = [*(e for _, e in meta), *(_field(f, batch, spec) for f in spec.fields)]
    return _objects(names, encoded, batch.n)


def encode_strings(values: list[str]) -> Encoded:
    """Strings (no nulls) as the inner text of their JSON literals: one orjson call per column.

    In orjson's output a ``"`` inside a string is always escaped, so ``","`` occurs only
    between two elements and splitting on it is exact. Anything that is not all strings is
    encoded value by value instead.
    """
    if not values:
        return [], True
    dumped = orjson.dumps(values)
    try:
        joined = "".join(values)
    except TypeError:  # not all strings (a null override): value by value
        return _one_by_one(values), False
    # orjson writes ``["a","b"]``: 3 characters per value plus 1 besides the values themselves,
    # unless a value needed escaping. Most columns (pools, ids, dates) need none, and then the
    # values are their own JSON text: no split, no new string objects (3x cheaper, bench/).
    if len(values) * 3 + 1 + len(joined) == (
        len(dumped) if joined.isascii() else len(dumped.decode())
    ):
        return values, True
    parts = dumped.decode()[2:-2].split('","')
    if len(parts) == len(values):
        return parts, True
    return _one_by_one(values), False


def _one_by_one(values: list[Any]) -> list[str]:
    dumps = orjson.dumps
    return [dumps(v).decode() for v in values]


def _field(f: FieldSpec, batch: ColumnBatch, spec: EntitySpec) -> Encoded:
    if f.is_object:
        rows = batch.rows_at(spec.level_of[f.path], spec)
        names = tuple(c.name for c in f.children)
        return _objects(names, [_field(c, batch, spec) for c in f.children], rows), False
    if f.is_array:
        assert f.item is not None
        items, quoted = _field(f.item, batch, spec)
        return group_arrays(items, quoted, batch.lengths[f.path]), False
    return encode_column(f, batch.values[f.path])


def group_arrays(items: list[Any], quoted: bool, lengths: np.ndarray) -> list[str]:
    """Each record's items as one JSON array text.

    One ``join`` over all items with a separator after each (``,`` inside an array, a NUL
    between arrays), then one ``split`` on NUL: NUL never occurs in JSON text (orjson escapes
    control characters), and two C calls beat a Python-level join per record.
    """
    n = len(lengths)
    filled = lengths > 0
    if not filled.any():
        return ["[]"] * n
    texts = items if quoted or not items or isinstance(items[0], str) else list(map(str, items))
    inner, outer = ('","', '"]\0["') if quoted else (",", "]\0[")
    ends = np.cumsum(lengths[filled]) - 1
    separators = np.full(len(texts), inner, dtype=object)
    separators[ends] = outer
    opening, closing = ('["', '"]') if quoted else ("[", "]")
    joined = "".join(itertools.chain.from_iterable(zip(texts, separators.tolist(), strict=True)))
    arrays = (opening + joined[: -len(outer)] + closing).split("\0")
    if filled.all():
        return arrays
    out = np.full(n, "[]", dtype=object)
    out[filled] = arrays
    grouped: list[str] = out.tolist()
    return grouped


def encode_column(f: FieldSpec, column: np.ndarray) -> Encoded:
    kind = column.dtype.kind
    if kind == "f":
        nulls = np.isnan(column)
        if nulls.any():
            return _with_nulls(f, column, nulls), False
    if f.type in TEMPORAL:
        texts = format_temporal(f, column)
        if f.format == "epoch":
            return texts, False
        return encode_strings(texts)
    if f.is_money:
        return encode_numbers(column / 100), False
    if kind == "b":
        return _BOOLEAN_TEXT[column.astype(np.intp)].tolist(), False
    if f.type is FieldType.INTEGER:
        return encode_numbers(column.astype(np.int64)), False
    if kind in "iuf":
        return encode_numbers(column), False
    # Object columns: strings, or (after a null override) strings and None, which fails the
    # all-strings check and goes value by value.
    return encode_strings(column.tolist())


def _with_nulls(f: FieldSpec, column: np.ndarray, nulls: np.ndarray) -> list[str]:
    """A column with nulls (NaN): the others encoded as usual, then ``null`` put in place."""
    values, quoted = encode_column(f, np.where(nulls, 0, column).astype(column.dtype))
    texts = (
        np.array(values, dtype=object) if not quoted else '"' + np.array(values, dtype=object) + '"'
    )
    texts[nulls] = "null"
    out: list[str] = texts.tolist()
    return out


def encode_numbers(column: np.ndarray) -> list[str]:
    """Finite numbers as JSON text: one orjson call per column (numbers hold no commas)."""
    if not len(column):
        return []
    return orjson.dumps(column, option=orjson.OPT_SERIALIZE_NUMPY).decode()[1:-1].split(",")


def _objects(
    names: tuple[str, ...], encoded: Sequence[tuple[Sequence[Any], bool]], rows: int
) -> list[str]:
    if not names:  # an OBJECT field without fields
        return ["{}"] * rows
    template = object_template(names, tuple(quoted for _, quoted in encoded))
    return template([values for values, _ in encoded])


@cached_by_size(256)  # bounded by count and size: callers' field names are keys
def object_template(
    names: tuple[str, ...], quoted: tuple[bool, ...]
) -> Callable[[list[Sequence[Any]]], list[str]]:
    """A compiled ``[f'{{"a":{v0},"b":"{v1}"}}' for v0, v1 in zip(*columns)]`` for these keys.

    Keys are JSON-encoded and brace-escaped into the literal, and the literal is written with
    ``repr``, so no field name can break out of it.
    """
    pieces = []
    for i, (name, quote) in enumerate(zip(names, quoted, strict=True)):
        key = orjson.dumps(name).decode().replace("{", "{{").replace("}", "}}")
        mark = '"' if quote else ""
        pieces.append(f"{',' if i else ''}{key}:{mark}{{v{i}}}{mark}")
    literal = "f" + repr("{{" + "".join(pieces) + "}}")
    variables = ", ".join(f"v{i}" for i in range(len(names)))
    # strict: a column shorter than its level would otherwise drop records silently.
    source = f"lambda columns: [{literal} for ({variables},) in zip(*columns, strict=True)]"
    built: Callable[[list[Sequence[Any]]], list[str]] = eval(source, {"zip": zip})
    return built
