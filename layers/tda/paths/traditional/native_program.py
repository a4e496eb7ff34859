"""The compiled renderer (``_textrender.c``): ``record_blob``, and the program it runs.

``record_blob`` renders a batch with C where the extension was built, else with the Python path
(``fragments.record_texts``): the same bytes either way. The program is a schema's layout over
a batch:

A node per field, as the C side expects it (it checks every size and dtype before reading):

- ``(OBJECT, ((key_prefix, node), ...), closing)``: ``{"a":`` … ``,"b":`` … ``}``
- ``(ARRAY, lengths, item)``: one int64 length per row of the level holding the array
- ``(COLUMN, kind, payload)``: a numpy buffer the C side formats (ints, cents, ISO dates…),
  or values (strings to escape) or ready JSON texts, as a list or an object array read in place.

A column goes to C only in a form whose text C writes exactly as the Python path does (orjson's
escaping, its shortest float forms for cents, ``columns.iso_texts``); anything else — generic
floats, ``strftime`` formats, years outside 0-9999 — is encoded by the Python path
(``fragments.encode_column``) and handed over as texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from tda.domain.contract import FieldType
from tda.domain.records import ColumnBatch, TextRows
from tda.domain.schema.spec import TEMPORAL, EntitySpec, FieldSpec
from tda.paths.traditional.fragments import Meta, encode_column, record_texts

try:  # the compiled renderer, built by ``pip install`` where a C compiler is at hand
    from tda.paths.traditional import _textrender
except ImportError:  # pragma: no cover - the Python path writes the same bytes
    _textrender = None  # type: ignore[assignment]
native = _textrender  # None without a C compiler at install; tests set it to None too

OBJECT, ARRAY, COLUMN = 0, 1, 2
INT64, CENTS, BOOL, F64_CENTS, F64_INT, DATE, DATETIME, EPOCH, VALUES, TEXT, QUOTED = range(11)

Node = tuple[Any, ...]

MAX_CENTS = 10**15  # orjson writes cents / 100 as plain decimals up to here (then 1e16 forms)
INT64_SAFE = 9.2e18
ISO_SECONDS = (-62167219200, 253402300799)  # 0000-01-01T00:00:00Z … 9999-12-31T23:59:59Z


def record_blob(batch: ColumnBatch, spec: EntitySpec, meta: Meta, sep: bytes) -> TextRows:
    """The records of ``record_texts`` as one UTF-8 text, each followed by ``sep``.

    With the compiled renderer (``_textrender``, built at install) the text is written straight
    from the columns; without it, from ``record_texts``. Both write the same bytes.
    """
    if native is not None:
        try:
            program = native_program(batch, spec, meta)
            text, offsets = native.render(program, batch.n, sep, orjson.dumps)
        except UnicodeEncodeError:  # a lone surrogate: orjson's own error, from the Python path
            pass
        else:
            return TextRows(text, np.frombuffer(offsets, dtype=np.int64), sep)
    return TextRows.of(record_texts(batch, spec, meta), sep)


def native_program(batch: ColumnBatch, spec: EntitySpec, meta: Meta) -> Node:
    """The root node: the ``meta`` columns (``_index``, ``_scenario``) first, then the fields."""
    names = [name for name, _ in meta] + [f.name for f in spec.fields]
    nodes = [_encoded(*e) for _, e in meta] + [_node(f, batch, spec) for f in spec.fields]
    return object_node(names, nodes)


def object_node(names: Sequence[str], nodes: Sequence[Node]) -> Node:
    if not names:
        return (OBJECT, (), b"{}")
    keys = [(b"," if i else b"{") + orjson.dumps(name) + b":" for i, name in enumerate(names)]
    return (OBJECT, tuple(zip(keys, nodes, strict=True)), b"}")


def _node(f: FieldSpec, batch: ColumnBatch, spec: EntitySpec) -> Node:
    if f.is_object:
        return object_node(
            [c.name for c in f.children], [_node(c, batch, spec) for c in f.children]
        )
    if f.is_array:
        assert f.item is not None
        lengths = np.ascontiguousarray(batch.lengths[f.path], dtype=np.int64)
        return (ARRAY, lengths, _node(f.item, batch, spec))
    return scalar_node(f, batch.values[f.path])


def scalar_node(f: FieldSpec, column: np.ndarray) -> Node:
    kind = column.dtype.kind
    if kind == "f":
        return _float_node(f, column)
    if f.type in TEMPORAL:
        return _python_node(f, column)
    if kind == "i" and f.is_money:
        if len(column) and int(np.abs(column).max()) > MAX_CENTS:
            return _python_node(f, column)
        return (COLUMN, CENTS, np.ascontiguousarray(column, dtype=np.int64))
    if kind == "b":
        return (COLUMN, BOOL, np.ascontiguousarray(column))
    if kind in "iu" and f.type is FieldType.INTEGER:
        return (COLUMN, INT64, np.ascontiguousarray(column.astype(np.int64)))
    if kind == "i":
        return (COLUMN, INT64, np.ascontiguousarray(column, dtype=np.int64))
    if kind == "O":
        return (COLUMN, VALUES, object_slots(column))
    return _python_node(f, column)


def _float_node(f: FieldSpec, column: np.ndarray) -> Node:
    """Float columns carry nulls as NaN: money in cents, integers, epoch timestamps."""
    data = np.ascontiguousarray(column, dtype=np.float64)
    finite = data[~np.isnan(data)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 0.0)
    if f.type in TEMPORAL:
        if f.format == "epoch":
            safe = lo > -INT64_SAFE and hi < INT64_SAFE
            return (COLUMN, EPOCH, data) if safe else _python_node(f, column)
        if f.format and "%" in f.format:
            return _python_node(f, column)
        # Python truncates toward zero before formatting: compare the truncated bounds.
        if ISO_SECONDS[0] <= int(lo) and int(hi) <= ISO_SECONDS[1]:
            return (COLUMN, DATETIME if f.type is FieldType.DATETIME else DATE, data)
        return _python_node(f, column)
    if f.is_money:
        whole = bool(np.all(finite == np.trunc(finite)))
        if whole and lo >= -MAX_CENTS and hi <= MAX_CENTS:
            return (COLUMN, F64_CENTS, data)
        return _python_node(f, column)
    if f.type is FieldType.INTEGER and lo > -INT64_SAFE and hi < INT64_SAFE:
        return (COLUMN, F64_INT, data)
    return _python_node(f, column)


def _python_node(f: FieldSpec, column: np.ndarray) -> Node:
    return _encoded(*encode_column(f, column))


def object_slots(column: np.ndarray) -> tuple[np.ndarray, int]:
    """An object array as the C side reads it in place: the array (kept alive by the program)
    and the address of its ``PyObject*`` slots; a copy of the column if it is not contiguous."""
    array = np.ascontiguousarray(column, dtype=object)
    return array, array.ctypes.data


def _encoded(values: Sequence[Any], quoted: bool) -> Node:
    """Values the Python path encoded: JSON texts (quoted or not), or ints it formats itself.

    ``_index`` comes as a ``range``, ``_scenario`` as an object array of JSON texts.
    """
    if isinstance(values, range):
        return (COLUMN, INT64, np.arange(values.start, values.stop, values.step, dtype=np.int64))
    if isinstance(values, np.ndarray) and values.dtype == object:
        return (COLUMN, QUOTED if quoted else TEXT, object_slots(values))
    if quoted:
        return (COLUMN, QUOTED, values)
    if values and all(type(v) is int for v in values):
        try:
            return (COLUMN, INT64, np.array(values, dtype=np.int64))
        except OverflowError:  # beyond int64: as text
            pass
    return (COLUMN, TEXT, [v if type(v) is str else str(v) for v in values])
