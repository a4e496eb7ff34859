"""Output formats, written chunk by chunk so any count streams in bounded memory.

- JSON: one array; NDJSON: one record per line (both via orjson).
- CSV: nested objects flattened to dotted columns (``shipping_address.city``); arrays are
  JSON-encoded into one cell; null is an empty cell; booleans are ``true``/``false``.
- SQL: ``CREATE TABLE`` + ``INSERT``s that load as they are into SQLite and PostgreSQL. Nested
  objects become ``parent__child`` columns; each array of objects becomes a child table
  ``<entity>_<field>`` with a foreign key to the parent row; arrays of scalars are JSON text.
"""

from __future__ import annotations

import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import orjson

from tda.domain.contract import FieldType, OutputFormat
from tda.domain.records import BatchRows, TextRows
from tda.domain.schema.spec import EntitySpec, FieldSpec

META_COLUMNS = ("_index", "_scenario")
# Where a memory path's record came from and, for an edge case, what it breaks: columns of
# their own in CSV and SQL too, so a tester reading a table can trace each row.
PROVENANCE_COLUMNS = ("_source", "_edge_case_type", "_edge_case_field", "_violates")


class Renderer(ABC):
    """Turns batches of records into bytes: ``begin`` once, ``chunk`` per batch, ``end`` once.

    ``first`` tells ``chunk`` that no record has been written yet (JSON needs no comma then).
    """

    media_type = "application/octet-stream"

    def __init__(self, spec: EntitySpec, meta: tuple[str, ...] = META_COLUMNS) -> None:
        self.spec = spec
        self.meta = meta

    def begin(self) -> bytes:
        return b""

    @abstractmethod
    def chunk(self, records: Sequence[dict[str, Any]], first: bool) -> bytes: ...

    def end(self) -> bytes:
        return b""

    def render(self, records: Sequence[dict[str, Any]]) -> bytes:
        return self.begin() + self.chunk(records, True) + self.end()

    def chunk_rows(self, rows: Any, first: bool) -> bytes:
        """A chunk of the rows the bulk path hands this renderer: record dicts here."""
        return self.chunk(rows, first)


class TextRenderer(Renderer):
    """A JSON-family renderer that can also take records already rendered as JSON object texts
    (``tda.domain.records.TextRows``), the bulk path that never builds the dicts."""

    separator = b"\n"  # what follows each record in the texts it takes

    @abstractmethod
    def chunk_texts(self, texts: TextRows, first: bool) -> bytes: ...

    def chunk_rows(self, rows: Any, first: bool) -> bytes:
        return self.chunk_texts(rows, first)


class JsonRenderer(TextRenderer):
    media_type = "application/json"
    separator = b","

    def begin(self) -> bytes:
        return b"["

    def chunk(self, records: Sequence[dict[str, Any]], first: bool) -> bytes:
        if not records:
            return b""
        body = orjson.dumps(records)[1:-1]
        return body if first else b"," + body

    def chunk_texts(self, texts: TextRows, first: bool) -> bytes:
        if not len(texts):
            return b""
        body = texts.body()
        return body if first else b"," + body

    def end(self) -> bytes:
        return b"]"


class NdjsonRenderer(TextRenderer):
    media_type = "application/x-ndjson"

    def chunk(self, records: Sequence[dict[str, Any]], first: bool) -> bytes:
        dumps = orjson.dumps
        return b"".join([dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in records])

    def chunk_texts(self, texts: TextRows, first: bool) -> bytes:
        return texts.text


def is_child_table(f: FieldSpec) -> bool:
    """Whether SQL writes a record's field ``f`` as a table of its own: an array of objects."""
    return f.is_array and f.item is not None and f.item.is_object


def child_table_name(table: str, f: FieldSpec) -> str:
    """The SQL table of the record's array of objects ``f``, beside the record's ``table``."""
    return f"{table}_{f.name}"


def primary_key_column(spec: EntitySpec) -> str | None:
    """The column the record's SQL table is keyed by, when its schema names one it has."""
    return spec.primary_key if spec.primary_key and spec.find(spec.primary_key) else None


def flattened_columns(fields: Sequence[FieldSpec]) -> list[tuple[str, FieldSpec]]:
    """SQL's columns of ``fields``: objects flattened (``a.b`` is ``a__b``), arrays whole."""
    return [(column, f) for column, _, f in _columns(fields, "", "__")]


def _columns(
    fields: Sequence[FieldSpec], prefix: str, sep: str
) -> list[tuple[str, tuple[str, ...], FieldSpec]]:
    """Flattened (column name, key path, field) for scalar-valued columns; arrays stay whole."""
    out: list[tuple[str, tuple[str, ...], FieldSpec]] = []
    for f in fields:
        name = f"{prefix}{f.name}"
        if f.is_object:
            for col, keys, spec in _columns(f.children, f"{name}{sep}", sep):
                out.append((col, (f.name, *keys), spec))
        else:
            out.append((name, (f.name,), f))
    return out


def _table(records: Sequence[dict[str, Any]], paths: Sequence[tuple[str, ...]]) -> list[list[Any]]:
    """The columns at ``paths`` (key paths into nested objects), each a list of the records'
    values (None where a path meets no object). Built a column at a time, one comprehension
    each, and a nested object's column from its parent's, read once: CSV and SQL were 4-8x
    slower than NDJSON, with a call per cell and per level most of it."""
    known: dict[tuple[str, ...], list[Any]] = {(): list(records)}

    def column(path: tuple[str, ...]) -> list[Any]:
        found = known.get(path)
        if found is None:
            key = path[-1]
            found = known[path] = [
                v.get(key) if isinstance(v, dict) else None for v in column(path[:-1])
            ]
        return found

    return [column(path) for path in paths]


class TableRenderer(Renderer):
    """A table format (CSV, SQL): its ``chunk_rows`` also takes a batch's columns
    (``tda.domain.records.BatchRows``), the bulk path that never builds the dicts."""


class CsvRenderer(TableRenderer):
    media_type = "text/csv"

    def __init__(self, spec: EntitySpec, meta: tuple[str, ...] = META_COLUMNS) -> None:
        super().__init__(spec, meta)
        self.columns = _columns(spec.fields, "", ".")

    def header(self) -> list[str]:
        return [*self.meta, *(c for c, _, _ in self.columns)]

    def chunk(self, records: Sequence[dict[str, Any]], first: bool) -> bytes:
        paths = [(m,) for m in self.meta] + [keys for _, keys, _ in self.columns]
        return self._text(_table(records, paths), first)

    def chunk_rows(self, rows: Any, first: bool) -> bytes:
        """Record dicts, or a batch's columns (``BatchRows``: no dict is built)."""
        if not isinstance(rows, BatchRows):
            return self.chunk(rows, first)
        meta = [rows.meta.get(m, [None] * len(rows)) for m in self.meta]
        return self._text(meta + [rows.values(f) for _, _, f in self.columns], first)

    def _text(self, columns: list[list[Any]], first: bool) -> bytes:
        body = csv_lines([csv_cells(values) for values in columns])
        if first:
            body = csv_lines([[cell] for cell in csv_cells(self.header())]) + body
        return body.encode("utf-8")


def csv_lines(columns: Sequence[Sequence[str]]) -> str:
    """Rows of cells already quoted (``csv_cells``), given as columns, one line each.

    Joined a row at a time in C (``str.join``) rather than through the csv module's writer,
    which was two thirds of a CSV batch's cost (bench/bench_formats.py).
    """
    if not columns or not len(columns[0]):
        return ""
    return "\n".join(map(",".join, zip(*columns, strict=True))) + "\n"


_STR = {str}
_NUMBERS = frozenset({int, float})  # not bool (true/false, TRUE/FALSE): its type is not int
_CSV_PLAIN = _NUMBERS | _STR
_CSV_QUOTE = re.compile(r'[,"\n\r]')


def csv_cells(values: Sequence[Any]) -> list[str]:
    """One column's cells as CSV text: RFC 4180 quoting, a cell quoted only when it holds a
    comma, a quote, LF or CR (the standard library's writer leaves a lone CR bare when lines
    end in LF, and readers then split the row there). A column without any is checked once."""
    kinds = set(map(type, values))
    if kinds == _STR:
        texts = values if isinstance(values, list) else list(values)
    elif kinds <= _CSV_PLAIN:
        texts = list(map(str, values))  # str of a str is itself; of a float, its repr
    elif kinds == {list}:
        texts = [orjson.dumps(v).decode("utf-8") for v in values]
    else:
        texts = [v if type(v) is str else _csv_text(v) for v in values]
    if _CSV_QUOTE.search("".join(texts)) is None:
        return texts
    search = _CSV_QUOTE.search
    return ['"' + t.replace('"', '""') + '"' if search(t) else t for t in texts]


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (list, dict)):
        return orjson.dumps(value).decode("utf-8")
    return str(value)


# --------------------------------------------------------------------------- SQL


def sql_identifier(name: str) -> str:
    """``name`` double-quoted; without NUL, which PostgreSQL takes nowhere in a query (only a
    caller's entity name can hold one)."""
    return '"' + name.replace("\x00", "").replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """A SQL literal both SQLite and PostgreSQL read back as the same value.

    Strings are single-quoted with quotes doubled; that is the whole of standard SQL escaping
    (backslashes are plain characters in both engines with standard_conforming_strings on, the
    PostgreSQL default). NUL cannot be stored in PostgreSQL text and is dropped.
    """
    if value is None:
        return "NULL"
    if value is True:
        return "TRUE"
    if value is False:
        return "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        value = orjson.dumps(value).decode("utf-8")
    text = str(value).replace("\x00", "")
    return "'" + text.replace("'", "''") + "'"


def sql_literals(values: Sequence[Any]) -> list[str]:
    """``sql_literal`` of each value, a column at a time (see ``_table``): a column of numbers
    or of strings without NUL or quote is formatted in one pass, the common types inline."""
    kinds = set(map(type, values))
    if kinds <= _NUMBERS:
        return list(map(str, values))  # str of a float is its repr
    if kinds == _STR:
        joined = "".join(values)
        if "\x00" not in joined and "'" not in joined:
            return [f"'{v}'" for v in values]
    return [
        ("'" + v.replace("'", "''") + "'" if "\x00" not in v else sql_literal(v))
        if (kind := type(v)) is str
        else str(v)
        if kind is int
        else repr(v)
        if kind is float
        else sql_literal(v)
        for v in values
    ]


_SQL_TYPES = {
    FieldType.INTEGER: "BIGINT",
    FieldType.FLOAT: "DOUBLE PRECISION",
    FieldType.BOOLEAN: "BOOLEAN",
    FieldType.DATE: "DATE",
    FieldType.DATETIME: "TIMESTAMP WITH TIME ZONE",
}


def _sql_type(f: FieldSpec) -> str:
    if f.is_money:
        return "NUMERIC(20, 2)"  # any valid amount (under MONEY_VALID_END)
    if f.type in (FieldType.DATE, FieldType.DATETIME) and f.format not in (None, "iso8601"):
        return "BIGINT" if f.format == "epoch" else "TEXT"
    return _SQL_TYPES.get(f.type, "TEXT")


class SqlRenderer(TableRenderer):
    media_type = "application/sql"
    insert_rows = 200

    def __init__(
        self, spec: EntitySpec, meta: tuple[str, ...] = META_COLUMNS, edge_cases: bool = False
    ) -> None:
        super().__init__(spec, meta)
        self.table = spec.name
        self.columns = _columns(spec.fields, "", "__")
        # Edge cases are invalid on purpose (a required field null, its key among them): the
        # tables then hold them all, keyed by the row's index, so the script loads and the
        # tester's own checks meet every row.
        self.permissive = edge_cases
        key = None if edge_cases else primary_key_column(spec)
        self.key_column = key or "_index"
        self.children = [
            (f, child_table_name(self.table, f), _columns(f.item.children, "", "__"))
            for f in spec.fields
            if is_child_table(f) and f.item is not None
        ]
        # Every other column, an array of objects inside an object too: JSON text, as arrays
        # of scalars are (one was once left out as if it were a child table, its data lost).
        tables = {f.path for f, _, _ in self.children}
        self.scalar_columns = [(c, k, f) for c, k, f in self.columns if f.path not in tables]
        names = ", ".join(
            sql_identifier(c) for c in (*self.meta, *(c for c, _, _ in self.scalar_columns))
        )
        self.insert_head = f"INSERT INTO {sql_identifier(self.table)} ({names}) VALUES\n"
        self.child_heads = [
            f"INSERT INTO {sql_identifier(table)} ("
            + ", ".join(
                sql_identifier(c) for c in (self.key_column, "_position", *(c for c, _, _ in cols))
            )
            + ") VALUES\n"
            for _array, table, cols in self.children
        ]

    def begin(self) -> bytes:
        lines = []
        defs = ['"_index" BIGINT NOT NULL', *(f"{sql_identifier(m)} TEXT" for m in self.meta[1:])]
        for col, _, f in self.scalar_columns:
            null = " NOT NULL" if f.required and not f.is_array and not self.permissive else ""
            defs.append(f"{sql_identifier(col)} {'TEXT' if f.is_array else _sql_type(f)}{null}")
        defs.append(f"PRIMARY KEY ({sql_identifier(self.key_column)})")
        lines.append(
            f"CREATE TABLE {sql_identifier(self.table)} (\n  " + ",\n  ".join(defs) + "\n);"
        )
        key_type = "BIGINT" if self.key_column == "_index" else "TEXT"
        for _array, table, cols in self.children:
            child_defs = [
                f"{sql_identifier(self.key_column)} {key_type} NOT NULL REFERENCES {sql_identifier(self.table)} ({sql_identifier(self.key_column)})",
                '"_position" INTEGER NOT NULL',
            ]
            child_defs += [
                f"{sql_identifier(c)} {'TEXT' if s.is_array else _sql_type(s)}" for c, _, s in cols
            ]
            child_defs.append(f'PRIMARY KEY ({sql_identifier(self.key_column)}, "_position")')
            lines.append(
                f"CREATE TABLE {sql_identifier(table)} (\n  " + ",\n  ".join(child_defs) + "\n);"
            )
        return ("\n".join(lines) + "\n").encode("utf-8")

    def chunk(self, records: Sequence[dict[str, Any]], first: bool) -> bytes:
        paths = [(m,) for m in self.meta] + [keys for _, keys, _ in self.scalar_columns]
        children = []
        for f, _table_name, cols in self.children:
            arrays = [r.get(f.name) or [] for r in records]
            items = [item for array in arrays for item in array]
            children.append(([len(a) for a in arrays], _table(items, [k for _, k, _ in cols])))
        keys = [r.get(self.key_column) for r in records]
        return self._statements(_table(records, paths), keys, children)

    def chunk_rows(self, rows: Any, first: bool) -> bytes:
        """Record dicts, or a batch's columns (``BatchRows``: no dict is built)."""
        if not isinstance(rows, BatchRows):
            return self.chunk(rows, first)
        meta = [rows.meta.get(m, [None] * len(rows)) for m in self.meta]
        columns = meta + [rows.values(f) for _, _, f in self.scalar_columns]
        children = [
            (rows.lengths(f).tolist(), [rows.values(c) for _, _, c in cols])
            for f, _table_name, cols in self.children
        ]
        key_field = self.spec.find(self.key_column)
        if self.key_column in rows.meta:
            keys = rows.meta[self.key_column]
        elif key_field is not None and key_field.name == key_field.path:  # a top-level field
            keys = rows.values(key_field)
        else:
            keys = [None] * len(rows)
        return self._statements(columns, keys, children)

    def _statements(
        self,
        columns: list[list[Any]],
        keys: list[Any],
        children: list[tuple[list[int], list[list[Any]]]],
    ) -> bytes:
        """``INSERT``s of ``insert_rows`` rows each, every one followed by its rows' items.

        ``columns``: the parent table's values; ``keys``: each row's key (its items' owner);
        ``children``: per child table, the item count of each row and the items' columns.
        """
        parent = _values_rows([sql_literals(values) for values in columns])
        key_literals = sql_literals(keys)
        child_inserts = []
        for head, (lengths, item_columns) in zip(self.child_heads, children, strict=True):
            owners = [key for key, k in zip(key_literals, lengths, strict=True) for _ in range(k)]
            positions = [str(p) for k in lengths for p in range(k)]
            item_rows = _values_rows(
                [owners, positions, *(sql_literals(values) for values in item_columns)]
            )
            child_inserts.append((head, item_rows, [0, *itertools.accumulate(lengths)]))
        out: list[str] = []
        for start in range(0, len(parent), self.insert_rows):
            stop = min(start + self.insert_rows, len(parent))
            out.append(self.insert_head + ",\n".join(parent[start:stop]) + ";")
            for head, item_rows, bounds in child_inserts:
                if bounds[stop] > bounds[start]:
                    out.append(head + ",\n".join(item_rows[bounds[start] : bounds[stop]]) + ";")
        return ("\n".join(out) + "\n").encode("utf-8") if out else b""


def _values_rows(literals: list[list[str]]) -> list[str]:
    """``(a, b, …)`` per row of columns of SQL literals."""
    return ["(" + ", ".join(row) + ")" for row in zip(*literals, strict=True)]


_RENDERERS: dict[OutputFormat, type[Renderer]] = {
    OutputFormat.JSON: JsonRenderer,
    OutputFormat.NDJSON: NdjsonRenderer,
    OutputFormat.CSV: CsvRenderer,
    OutputFormat.SQL: SqlRenderer,
}


def renderer_for(
    fmt: OutputFormat, spec: EntitySpec, provenance: bool = False, edge_cases: bool = False
) -> Renderer:
    """``provenance``: the records carry where they came from (``PROVENANCE_COLUMNS``);
    ``edge_cases``: they are invalid on purpose (SQL tables without NOT NULL, keyed by index)."""
    meta = META_COLUMNS + PROVENANCE_COLUMNS if provenance else META_COLUMNS
    if fmt is OutputFormat.SQL:
        return SqlRenderer(spec, meta, edge_cases)
    return _RENDERERS[fmt](spec, meta)
