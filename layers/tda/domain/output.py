"""Output formats, written chunk by chunk so any count streams in bounded memory.

- JSON: one array; NDJSON: one record per line (both via orjson).
- CSV: nested objects flattened to dotted columns (``shipping_address.city``); arrays are
  JSON-encoded into one cell; null is an empty cell; booleans are ``true``/``false``.
- SQL: ``CREATE TABLE`` + ``INSERT``s that load as they are into SQLite and PostgreSQL. Nested
  objects become ``parent__child`` columns; each array of objects becomes a child table
  ``<entity>_<field>`` with a foreign key to the parent row; arrays of scalars are JSON text.
"""

from __future__ import annotations

import csv
import io
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import orjson

from tda.domain.contract import FieldType, OutputFormat
from tda.domain.records import TextRows
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


class CsvRenderer(Renderer):
    media_type = "text/csv"

    def __init__(self, spec: EntitySpec, meta: tuple[str, ...] = META_COLUMNS) -> None:
        super().__init__(spec, meta)
        self.columns = _columns(spec.fields, "", ".")

    def header(self) -> list[str]:
        return [*self.meta, *(c for c, _, _ in self.columns)]

    def chunk(self, records: Sequence[dict[str, Any]], first: bool) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if first:
            writer.writerow(self.header())
        paths = [(m,) for m in self.meta] + [keys for _, keys, _ in self.columns]
        cells = [
            [v if type(v) in _CSV_AS_IS else _csv_cell(v) for v in values]
            for values in _table(records, paths)
        ]
        writer.writerows(zip(*cells, strict=True))
        return buffer.getvalue().encode("utf-8")


_CSV_AS_IS = frozenset({str, int, float})  # the writer's own str(); bool is not int here


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (list, dict)):
        return orjson.dumps(value).decode("utf-8")
    return value


# --------------------------------------------------------------------------- SQL


def sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
    """``sql_literal`` of each value; the common types inline (a column at a time, see
    ``_table``), anything else through it."""
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
        return "NUMERIC(14, 2)"
    if f.type in (FieldType.DATE, FieldType.DATETIME) and f.format not in (None, "iso8601"):
        return "BIGINT" if f.format == "epoch" else "TEXT"
    return _SQL_TYPES.get(f.type, "TEXT")


class SqlRenderer(Renderer):
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
        key = spec.primary_key if spec.primary_key and spec.find(spec.primary_key) else None
        key = None if edge_cases else key
        self.key_column = key or "_index"
        self.children = [
            (f, f"{self.table}_{f.name}", _columns(f.item.children, "", "__"))
            for f in spec.fields
            if f.is_array and f.item is not None and f.item.is_object
        ]
        self.scalar_columns = [
            (c, k, f)
            for c, k, f in self.columns
            if not (f.is_array and f.item is not None and f.item.is_object)
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
        out: list[str] = []
        names = ", ".join(
            sql_identifier(c) for c in (*self.meta, *(c for c, _, _ in self.scalar_columns))
        )
        paths = [(m,) for m in self.meta] + [keys for _, keys, _ in self.scalar_columns]
        for start in range(0, len(records), self.insert_rows):
            rows = records[start : start + self.insert_rows]
            literals = [sql_literals(values) for values in _table(rows, paths)]
            values = ["(" + ", ".join(row) + ")" for row in zip(*literals, strict=True)]
            out.append(
                f"INSERT INTO {sql_identifier(self.table)} ({names}) VALUES\n"
                + ",\n".join(values)
                + ";"
            )
            for f, table, cols in self.children:
                child_values = self._child_rows(rows, f.name, cols)
                if child_values:
                    child_names = ", ".join(
                        sql_identifier(c)
                        for c in (self.key_column, "_position", *(c for c, _, _ in cols))
                    )
                    out.append(
                        f"INSERT INTO {sql_identifier(table)} ({child_names}) VALUES\n"
                        + ",\n".join(child_values)
                        + ";"
                    )
        return ("\n".join(out) + "\n").encode("utf-8") if out else b""

    def _child_rows(
        self,
        rows: Sequence[dict[str, Any]],
        field: str,
        cols: list[tuple[str, tuple[str, ...], FieldSpec]],
    ) -> list[str]:
        """The VALUES rows of one child table: each item of each row's ``field`` array, after
        its parent's key and its position."""
        owners: list[Any] = []
        positions: list[str] = []
        items: list[Any] = []
        for r in rows:
            for pos, item in enumerate(r.get(field) or []):
                owners.append(r.get(self.key_column))
                positions.append(str(pos))
                items.append(item)
        if not items:
            return []
        literals = [sql_literals(owners), positions]
        literals += [sql_literals(values) for values in _table(items, [k for _, k, _ in cols])]
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
