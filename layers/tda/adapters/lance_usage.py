"""Reuse counts in LanceDB's ``_usage`` table, kept right with no lock around the counting.

Every reuse is a row of its own (collection, id, uses=1, a random ``event``), *appended*:
LanceDB never makes two appends conflict, so Lambdas on one ``s3://`` store, or ``tda serve``
workers on one folder, count at once and none is lost or counted twice. The count of an entry
is the sum of its rows.

The first design kept one row per entry, updated in place (``uses + 1``), and inserted it on a
first use: without a lock, 3 processes counting at once lost uses, doubled others (both
inserted a first use's row: LanceDB checks no key across concurrent commits), and once left
every count but one at 0.

So that the rows do not grow by one a reuse forever, a tidy *folds* them: an entry's rows
become one row of their sum, in a single commit (a merge that inserts the sums and deletes
exactly the rows summed, by ``event``). Rows appended meanwhile are not among them and stay.
A fold reads only the entries counted since the last one (its sums are marked).
Two folds at once could both sum the same rows: folding is done holding the table's write
lock (a folder's lock file, an ``s3://`` store's lease object).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

USAGE = "_usage"
FOLD_MAX_ROWS = 4096  # rows summed by one fold (its delete lists them): the rest wait for the next
# A fold's sums' events start with this; the other rows were appended since (or written by a
# version that did not mark its sums, and are folded once more).
FOLDED = "f-"


def sql_text(value: str) -> str:
    """A string literal for LanceDB's SQL filter (quotes doubled: a caller's domain is free text)."""
    return "'" + value.replace("'", "''") + "'"


def id_in(ids: Sequence[str]) -> str:
    """The SQL filter of the rows whose ``id`` is one of ``ids``."""
    return "id IN (" + ", ".join(sql_text(i) for i in ids) + ")"


def usage_where(collection: str, ids: Sequence[str] | None) -> str:
    where = f"collection = {sql_text(collection)}"
    return where if ids is None else f"{where} AND {id_in(ids)}"


def usage_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("collection", pa.string()),
            ("id", pa.string()),
            ("uses", pa.int64()),
            ("event", pa.string()),
        ]
    )


def new_uses(collection: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    """One reuse of each of ``ids``: a row each, with an event no other row has."""
    return [{"collection": collection, "id": i, "uses": 1, "event": _event()} for i in ids]


def summed(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    uses: dict[str, int] = {}
    for row in rows:
        uses[row["id"]] = uses.get(row["id"], 0) + int(row["uses"] or 0)
    return uses


def with_events(table: Any) -> Any:
    """A ``_usage`` table written before events (one row per entry, updated in place) given
    the column: each old row's event is made of its entry's key, unique among them."""
    if "event" not in table.schema.names:
        table.add_columns({"event": "concat('before-events:', collection, ':', id)"})
    return table


def fold(table: Any) -> int:
    """The entries counted since the last fold: each one's rows summed into one, in one
    commit; returns how many rows were folded. The caller holds the table's write lock.

    Only those entries are read: a fold's sums are marked (their event starts with
    FOLDED), so a fold finds the rows appended since by a filter on one column, then reads
    those entries' rows by id. Reading the whole table each time took 0.29 s at 100K used
    entries, every TIDY_EVERY_WRITES counts (bench/bench_rag.py)."""
    fresh = (
        table.search()
        .where(f"NOT starts_with(event, {sql_text(FOLDED)})")
        .select(["collection", "id"])
        .limit(FOLD_MAX_ROWS)
        .to_list()
    )
    keys = {(row["collection"], row["id"]) for row in fresh}
    if not keys:
        return 0
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in table.search().where(id_in(sorted({i for _, i in keys}))).limit(None).to_list():
        key = (row["collection"], row["id"])
        if key in keys:  # an id of one collection may be another's too
            groups.setdefault(key, []).append(row)
    sums: list[dict[str, Any]] = []
    events: list[str] = []
    for (collection, entry), group in groups.items():
        if len(events) + len(group) > FOLD_MAX_ROWS and sums:
            break
        uses = sum(int(r["uses"] or 0) for r in group)
        sums.append(
            {"collection": collection, "id": entry, "uses": uses, "event": FOLDED + _event()}
        )
        events.extend(r["event"] for r in group)
    if not sums:
        return 0
    (
        table.merge_insert("event")
        .when_not_matched_insert_all()
        .when_not_matched_by_source_delete(
            "event IN (" + ", ".join(sql_text(e) for e in events) + ")"
        )
        .execute(sums)
    )
    return len(events)


def _event() -> str:
    return os.urandom(12).hex()
