"""Each output format parsed back, including hostile strings in SQL and CSV."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tda.app.service import generate
from tda.domain.contract import GenerateRequest

from ..conftest import make_request

HOSTILE = "O'Brien \\ \"quoted\"\nline two; DROP TABLE users; -- '); DELETE FROM x; /* é 😀"


def _hostile_users(fmt: str, count: int = 3) -> str:
    request = make_request(
        entity="user",
        count=count,
        output_format=fmt,
        scenarios=[{"name": "hostile", "count": count, "overrides": {"last_name": HOSTILE}}],
    )
    return generate(request).data


def test_json_and_ndjson_hold_the_same_records() -> None:
    as_json = json.loads(
        generate(make_request(entity="order", count=40, output_format="JSON")).data
    )
    ndjson = generate(make_request(entity="order", count=40, output_format="NDJSON")).data
    assert ndjson.endswith("\n")
    assert [json.loads(line) for line in ndjson.splitlines()] == as_json


def test_csv_flattens_objects_with_dotted_columns_and_json_encodes_arrays() -> None:
    records = json.loads(generate(make_request(entity="order", count=30)).data)
    text = generate(make_request(entity="order", count=30, output_format="CSV")).data
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 30
    assert "shipping_address.city" in rows[0] and "billing_address.postal_code" in rows[0]
    for row, record in zip(rows, records, strict=True):
        assert row["shipping_address.city"] == record["shipping_address"]["city"]
        assert json.loads(row["items"]) == record["items"]
        assert float(row["total"]) == record["total"]
        assert row["completed_at"] == (record["completed_at"] or "")


def test_csv_booleans_and_hostile_strings_round_trip() -> None:
    rows = list(csv.DictReader(io.StringIO(_hostile_users("CSV"))))
    assert {row["last_name"] for row in rows} == {HOSTILE}
    assert {row["marketing_opt_in"] for row in rows} <= {"true", "false"}


def _named(first_name: str, fmt: str) -> GenerateRequest:
    scenarios = [{"name": "named", "count": 2, "overrides": {"first_name": first_name}}]
    return make_request(entity="user", count=2, output_format=fmt, scenarios=scenarios)


def test_csv_quotes_a_carriage_return_so_readers_keep_the_row_whole() -> None:
    # The standard library's writer leaves a lone CR unquoted when lines end in LF, and every
    # reader (its own included) then ends the row there.
    for value in ("carriage\rreturn", "crlf\r\nline", "\r"):
        rows = list(csv.DictReader(io.StringIO(generate(_named(value, "CSV")).data, newline="")))
        assert [row["first_name"] for row in rows] == [value, value]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30))
def test_any_text_round_trips_through_csv_and_sql_both_ways_records_are_written(
    value: str,
) -> None:
    from tda.app.service import plan_request
    from tda.paths.traditional.bulk import stream_output

    assume(value.strip().lower() != "null")  # an override "null" is a null, not text

    def users(fmt: str) -> list[str]:
        """The service's answer (written from records) and the bulk path's (from columns)."""
        request = _named(value, fmt)
        bulk = b"".join(stream_output(plan_request(request), request.output_format))
        return [generate(request).data, bulk.decode()]

    for text in users("CSV"):
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert [row["first_name"] for row in rows] == [value, value]
    for script in users("SQL"):
        db = sqlite3.connect(":memory:")
        db.executescript(script)
        stored = [row[0] for row in db.execute('SELECT first_name FROM "user" ORDER BY "_index"')]
        assert stored == [value.replace("\x00", "")] * 2  # PostgreSQL text cannot hold NUL


def test_sql_escapes_quotes_backslashes_newlines_and_injection_text() -> None:
    sql = _hostile_users("SQL")
    db = sqlite3.connect(":memory:")
    db.executescript(sql)
    names = {row[0] for row in db.execute('SELECT last_name FROM "user"')}
    assert names == {HOSTILE}
    assert db.execute('SELECT count(*) FROM "user"').fetchone()[0] == 3
    assert db.execute('SELECT count(*) FROM "user_addresses"').fetchone()[0] >= 3


def test_sql_child_table_rows_match_the_parent_arrays() -> None:
    records = json.loads(generate(make_request(entity="cart", count=25)).data)
    db = sqlite3.connect(":memory:")
    db.executescript(generate(make_request(entity="cart", count=25, output_format="SQL")).data)
    for record in records:
        items = db.execute(
            'SELECT sku, quantity, price FROM cart_items WHERE cart_id = ? ORDER BY "_position"',
            (record["cart_id"],),
        ).fetchall()
        assert items == [(i["sku"], i["quantity"], i["price"]) for i in record["items"]]


def test_multi_batch_streams_parse_back_to_the_same_records() -> None:
    from tda.app.service import plan_request
    from tda.domain.contract import GenerateRequest, OutputFormat
    from tda.domain.plan import BATCH_ROWS
    from tda.paths.traditional.bulk import stream_output

    count = 2 * BATCH_ROWS + 500
    plan = plan_request(GenerateRequest(entity="cart", count=count, seed=11))
    as_json = json.loads(b"".join(stream_output(plan, OutputFormat.JSON)))
    lines = b"".join(stream_output(plan, OutputFormat.NDJSON)).decode().splitlines()
    assert len(as_json) == count and [json.loads(line) for line in lines] == as_json
    assert [r["_index"] for r in as_json] == list(range(count))
    rows = list(
        csv.DictReader(io.StringIO(b"".join(stream_output(plan, OutputFormat.CSV)).decode()))
    )
    assert [r["cart_id"] for r in rows] == [r["cart_id"] for r in as_json]


def test_sql_keeps_an_array_of_objects_inside_an_object_as_json_text() -> None:
    # Only the record's own arrays of objects are child tables. One inside an object was left
    # out of the parent table as if it were one, and written nowhere: its data was lost.
    from tda.app.service import plan_request
    from tda.paths.traditional.bulk import stream_output

    arr = {"name": "arr", "type": "ARRAY", "nested_fields": [
        {"name": "q", "type": "INTEGER"}, {"name": "r", "type": "STRING"}]}  # fmt: skip
    schema = {"fields": [{"name": "o", "type": "OBJECT", "nested_fields": [arr]}]}
    ask = {"schema": schema, "count": 5, "seed": 3}
    records = json.loads(generate(make_request(**ask)).data)
    request = make_request(**ask, output_format="SQL")
    bulk = b"".join(stream_output(plan_request(request), request.output_format)).decode()
    for script in (generate(request).data, bulk):
        db = sqlite3.connect(":memory:")
        db.executescript(script)
        stored = [json.loads(row[0]) for row in db.execute('SELECT o__arr FROM "record"')]
        assert stored == [r["o"]["arr"] for r in records]
