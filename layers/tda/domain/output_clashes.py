"""Field names the output cannot give a column of their own, found before anything is made.

Every format writes ``_index`` and ``_scenario`` beside a record's fields (and a memory path's
provenance): a field under one of those names had its value written over the record's index
in JSON, and its column declared twice in CSV and SQL. SQL flattens objects (``a.b`` is the
column ``a__b``), gives each array of objects a child table (``<table>_<array>``, keyed by the
record's key and ``_position``), and PostgreSQL keeps only the first 63 bytes of a name: two
fields, or two tables, could become one, and the script then loaded nowhere. SQLite reads
names in either case (ASCII letters): ``Name`` beside ``name`` loaded in PostgreSQL only.
"""

from __future__ import annotations

from tda.domain.contract import OutputFormat
from tda.domain.errors import FieldIssue, shown
from tda.domain.output import (
    META_COLUMNS,
    PROVENANCE_COLUMNS,
    child_table_name,
    flattened_columns,
    is_child_table,
    primary_key_column,
    sql_identifier,
)
from tda.domain.schema.spec import EntitySpec, FieldSpec

OWN_COLUMNS = (*META_COLUMNS, *PROVENANCE_COLUMNS)
_CHILD_OWN = "the child table's own"
_OUTPUT_OWN = "the output's own"
POSTGRES_NAME_BYTES = 63  # NAMEDATALEN - 1


def column_clashes(spec: EntitySpec, output_format: OutputFormat) -> list[FieldIssue]:
    """A field-level issue for each field whose name the output gives to something else."""
    issues = [
        FieldIssue(
            f"schema.{f.path}",
            f"'{f.name}' is the output's own column ({', '.join(OWN_COLUMNS)}): name the "
            "field otherwise",
        )
        for f in spec.fields
        if f.name in OWN_COLUMNS
    ]
    if output_format is OutputFormat.SQL and not sql_identifier(spec.name).strip('"'):
        issues.append(
            FieldIssue(
                "entity",
                f"{shown(spec.name)}: no SQL table name is left once NUL, which PostgreSQL "
                "takes nowhere, is dropped: name the entity otherwise",
            )
        )
    if output_format is OutputFormat.SQL and not issues:
        issues = _SqlNames(spec).clashes
    return issues


class _SqlNames:
    """The script's tables and columns as PostgreSQL and SQLite read them, and the fields whose
    names one of them already has (``clashes``)."""

    def __init__(self, spec: EntitySpec) -> None:
        self.clashes: list[FieldIssue] = []
        tables: dict[str, tuple[str, str]] = {}
        self._claim(tables, spec.name, "the record", None)
        parent: dict[str, tuple[str, str]] = {}
        for column in META_COLUMNS:
            self._claim(parent, column, _OUTPUT_OWN, None)
        key = primary_key_column(spec)
        # As SqlRenderer lays them out: arrays of objects under the record are child tables.
        tables_of = {f.path for f in spec.fields if is_child_table(f)}
        for column, f in flattened_columns(spec.fields):
            if f.path not in tables_of:
                self._claim(parent, column, f.path, f)
        for f in spec.fields:
            if is_child_table(f) and f.item is not None:
                table = child_table_name(spec.name, f)
                self._claim(tables, table, f"the table of {f.path}", f, "table")
                self._child_table(f.item.children, key)

    def _child_table(self, fields: tuple[FieldSpec, ...], key: str | None) -> None:
        columns: dict[str, tuple[str, str]] = {}
        for own in ("_index", "_position", *([key] if key else [])):
            self._claim(columns, own, _CHILD_OWN, None)
        for column, f in flattened_columns(fields):
            self._claim(columns, column, f.path, f)

    def _claim(
        self,
        taken: dict[str, tuple[str, str]],
        name: str,
        owner: str,
        f: FieldSpec | None,
        kind: str = "column",
    ) -> None:
        """``name`` taken for ``owner`` (a field's path, or the table's own); an issue on ``f``
        when a name taken before reads the same: in PostgreSQL (its first 63 bytes) or in
        SQLite (ASCII letters in either case)."""
        cut = name.encode()[:POSTGRES_NAME_BYTES].decode(errors="ignore")
        key = "".join(c.lower() if c.isascii() else c for c in cut)
        first, first_owner = taken.setdefault(key, (name, owner))
        if (first, first_owner) == (name, owner) or f is None:
            return
        whose = (
            f"{first_owner} {kind}"
            if first_owner in (_CHILD_OWN, _OUTPUT_OWN)
            else f"the {kind} of {first_owner}"
        )
        if first == name:
            said = (
                f"'{name}' is {whose}"
                if first_owner in (_CHILD_OWN, _OUTPUT_OWN)
                else (f"becomes the SQL {kind} '{name}', {whose}")
            )
        elif first.encode()[:POSTGRES_NAME_BYTES] == cut.encode():
            said = (
                f"PostgreSQL keeps 63 bytes of a name: its SQL {kind} '{name}' is cut to "
                f"'{cut}', as {whose} is"
            )
        else:
            said = (
                f"SQLite reads names in either case: its SQL {kind} '{name}' is '{first}' "
                f"there, {whose}"
            )
        self.clashes.append(FieldIssue(f"schema.{f.path}", said))
