"""Every constraint type, on registered entities (extending them) and on callers' schemas."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tda.app.service import resolve_spec
from tda.domain.schema.registry import get_entity
from tda.domain.validation import validate_records

from ..conftest import generate_records, make_request


def c(**constraints: object) -> dict[str, object]:
    return {"field_constraints": constraints}


def test_min_max_on_integers_floats_and_money() -> None:
    records = generate_records(
        entity="product",
        count=500,
        constraints=c(stock={"min": 10, "max": 12}, price={"min": 5, "max": 20}),
    )
    assert {r["stock"] for r in records} <= {10, 11, 12}
    assert all(5 <= r["price"] <= 20 for r in records)
    assert all(
        round(r["price"] * 100) == r["price"] * 100
        or abs(round(r["price"] * 100) - r["price"] * 100) < 1e-6
        for r in records
    )


def test_bounds_on_nested_item_fields_and_array_lengths() -> None:
    records = generate_records(
        entity="cart",
        count=300,
        constraints=c(
            **{"items.quantity": {"max": 2}, "items": {"min_length": 2, "max_length": 3}}
        ),
    )
    assert all(2 <= len(r["items"]) <= 3 for r in records)
    assert all(i["quantity"] <= 2 for r in records for i in r["items"])


def test_bound_on_a_derived_field_is_met_by_redrawing_records() -> None:
    # total is derived (subtotal + tax): the engine redraws records until the bound holds
    records = generate_records(entity="cart", count=300, constraints=c(total={"max": 60}))
    assert all(r["total"] <= 60 for r in records)
    assert len(records) == 300
    spec = resolve_spec(make_request(entity="cart", count=1, constraints=c(total={"max": 60})))
    assert validate_records(spec, records).valid


def test_enum_values_narrow_a_registered_enum() -> None:
    records = generate_records(
        entity="order", count=300, constraints=c(status={"enum_values": ["shipped", "delivered"]})
    )
    assert {r["status"] for r in records} == {"shipped", "delivered"}
    # completed_at follows status: only delivered orders have it
    assert all((r["completed_at"] is not None) == (r["status"] == "delivered") for r in records)


def test_regex_generates_matching_strings() -> None:
    records = generate_records(
        entity="user", count=200, constraints=c(first_name={"regex": r"[A-Z][a-z]{2,5}-\d{2}"})
    )
    assert all(re.fullmatch(r"[A-Z][a-z]{2,5}-\d{2}", r["first_name"]) for r in records)
    assert len({r["first_name"] for r in records}) > 100


def test_min_and_max_length_on_strings() -> None:
    fields = [{"name": "note", "type": "STRING"}, {"name": "code", "type": "STRING"}]
    records = generate_records(
        entity="memo",
        schema={"fields": fields},
        count=300,
        constraints=c(
            note={"min_length": 30, "max_length": 40}, code={"min_length": 3, "max_length": 3}
        ),
    )
    assert all(30 <= len(r["note"]) <= 40 for r in records)
    assert all(len(r["code"]) == 3 for r in records)


def test_formats_for_dates_ids_and_money() -> None:
    fields = [
        {"name": "day", "type": "DATE"},
        {"name": "stamp", "type": "DATETIME"},
        {"name": "invoice", "type": "STRING"},
        {"name": "amount", "type": "FLOAT"},
    ]
    records = generate_records(
        entity="invoice",
        schema={"fields": fields},
        count=200,
        constraints=c(
            day={"format": "%d/%m/%Y", "min": 1704067200, "max": 1706745599},
            stamp={"format": "epoch"},
            invoice={"format": "INV-{year}-{digits:6}"},
            amount={"format": "money", "min": 1, "max": 2},
        ),
    )
    for r in records:
        parsed = datetime.strptime(r["day"], "%d/%m/%Y")
        assert parsed.year == 2024 and parsed.month == 1
        assert isinstance(r["stamp"], int)
        assert re.fullmatch(r"INV-\d{4}-\d{6}", r["invoice"])
        assert 1 <= r["amount"] <= 2 and abs(r["amount"] * 100 - round(r["amount"] * 100)) < 1e-6


def test_registered_constraints_stay_when_a_request_adds_others() -> None:
    spec = resolve_spec(
        make_request(entity="cart", count=1, constraints=c(**{"items.quantity": {"max": 3}}))
    )
    quantity = spec.find("items.quantity")
    assert quantity is not None and quantity.minimum == 1 and quantity.maximum == 3
    assert get_entity("cart").find("items.quantity").maximum == 99  # type: ignore[union-attr]


def test_a_bound_on_one_side_only_beyond_where_draws_start_is_met() -> None:
    # Only a max, below where draws start when none is given (0 for floats, $1 for money):
    # numpy refused the draw ("high - low < 0") and the request failed as an internal error.
    schema = {
        "fields": [
            {"name": "x", "type": "FLOAT", "required": True},
            {"name": "m", "type": "FLOAT", "required": True},
        ]
    }
    records = generate_records(
        schema=schema, count=200, constraints=c(x={"max": -1e308}, m={"format": "money", "max": -5})
    )
    assert len(records) == 200
    assert all(r["x"] <= -1e308 for r in records)
    assert all(r["m"] <= -5 for r in records)


def test_money_in_the_hundreds_of_billions_is_whole_cents() -> None:
    # 628451481188.56 * 100 is 62845148118856.01 in floats: the whole-cents check said no to a
    # valid amount, and the record was taken for a generator bug (an HTTP 500).
    schema = {"fields": [{"name": "m", "type": "FLOAT", "required": True}]}
    records = generate_records(
        schema=schema, count=500, constraints=c(m={"format": "money", "min": -1e12, "max": 1e12})
    )
    assert len(records) == 500
    assert sum(abs(r["m"]) > 1e11 for r in records) > 300
    assert all(round(r["m"], 2) == r["m"] for r in records)


def test_dates_at_the_ends_of_what_iso_8601_holds() -> None:
    # A min late in 9999 drew into year 10000, and %Y wrote year 8 as "8", which no %Y reads
    # back: both were records taken for generator bugs (HTTP 500).
    schema = {
        "fields": [
            {"name": "late", "type": "DATETIME", "required": True},
            {"name": "early", "type": "DATETIME", "required": True},
        ]
    }
    records = generate_records(
        schema=schema,
        count=200,
        constraints=c(
            late={"min": 253402300000},  # 9999-12-31T23:46:40Z, no max
            early={"format": "%d/%m/%Y", "min": -62135596800, "max": -61000000000},
        ),
    )
    assert all("9999-12-31T23:46:40Z" <= r["late"] <= "9999-12-31T23:59:59Z" for r in records)
    assert all(re.fullmatch(r"\d\d/\d\d/00[0-3]\d", r["early"]) for r in records)
    assert {r["early"][-4:] < "0010" for r in records} == {True, False}


def test_strftime_formats_that_read_back_are_taken_and_every_value_reads_back() -> None:
    formats = {
        "us": ("DATE", "%m/%d/%y"),  # a two-digit year: the default window is 2024–2025
        "ordinal": ("DATE", "%j/%Y"),
        "named": ("DATE", "%A %d %B %Y"),
        "stamp": ("DATETIME", "%Y-%m-%dT%H:%M:%S%z"),
        "clock": ("DATETIME", "%I:%M:%S %p on %d %b %Y (%Z)"),
        "micro": ("DATETIME", "%Y%m%d%H%M%S.%f"),
        "day": ("DATETIME", "%d/%m/%Y"),  # read back as its day: no min to fall before
    }
    schema = {"fields": [{"name": name, "type": kind} for name, (kind, _) in formats.items()]}
    records = generate_records(
        schema=schema,
        count=300,
        constraints=c(**{name: {"format": fmt} for name, (_, fmt) in formats.items()}),
    )
    for name, (_, fmt) in formats.items():
        read = [datetime.strptime(r[name], fmt) for r in records]
        assert all(2024 <= moment.year <= 2025 for moment in read), name
        assert len(set(read)) > 100, name  # the values differ: none is read back as another


def test_an_id_format_on_a_registered_text_field_makes_its_values() -> None:
    # As a regex does: before, the field's own generator (names, cities, SKUs from the catalog)
    # went on, and every record failed its format as a generator bug (HTTP 500).
    formats = {  # entity: {field: (format, what its values look like)}
        "user": {"first_name": ("N-{random:3}", r"N-[0-9A-Z]{3}")},
        "order": {
            "shipping_address.city": ("C{digits:2}", r"C[0-9]{2}"),
            "shipping_address.country": ("X{random:2}", r"X[0-9A-Z]{2}"),
        },
        "cart": {"items.sku": ("S-{digits:4}", r"S-[0-9]{4}")},
        "review": {"title": ("T{digits:3}", r"T[0-9]{3}")},
    }
    for entity, fields in formats.items():
        records = generate_records(
            entity=entity,
            count=50,
            constraints=c(**{field: {"format": fmt} for field, (fmt, _) in fields.items()}),
        )
        for field, (_, looks) in fields.items():
            values: list[Any] = records
            for part in field.split("."):
                values = [
                    item[part]
                    for value in values
                    for item in (value if isinstance(value, list) else [value])
                ]
            assert values and all(re.fullmatch(looks, v) for v in values), (field, values[:3])


def test_fields_of_array_items_are_named_alike_whatever_the_items_are() -> None:
    # A cart's items are objects ('items.sku'); a user's addresses are ADDRESS items, whose
    # parts were only 'addresses[].city': 'addresses.city', as the README writes nested paths,
    # was "no field 'addresses.city' in user". Both spellings now name the one field.
    for path in ("addresses.city", "addresses[].city"):
        records = generate_records(
            entity="user",
            count=20,
            constraints=c(**{path: {"regex": "C[0-9]{2}"}}),
            scenarios=[
                {
                    "name": "s",
                    "count": 20,
                    "overrides": {path.replace("city", "street"): "1 Main St"},
                }
            ],
        )
        addresses = [a for r in records for a in r["addresses"]]
        assert all(re.fullmatch("C[0-9]{2}", a["city"]) for a in addresses), path
        assert {a["street"] for a in addresses} == {"1 Main St"}, path
    lines = {"name": "lines", "type": "ARRAY", "nested_fields": [
        {"name": "item", "type": "OBJECT", "nested_fields": [{"name": "qty", "type": "INTEGER"}]}]}  # fmt: skip
    for path in ("lines.qty", "lines[].qty"):
        records = generate_records(
            schema={"fields": [lines]}, count=20, constraints=c(**{path: {"min": 7, "max": 7}})
        )
        assert {line["qty"] for r in records for line in r["lines"]} == {7}, path


def test_a_date_format_on_a_min_in_the_middle_of_a_day_is_taken() -> None:
    # A DATE's values are whole days from the first after its min: '%d/%m/%Y' reads each back
    # as itself, however late in its day the min is.
    schema = {"fields": [{"name": "day", "type": "DATE"}]}
    constraints = c(day={"format": "%d/%m/%Y", "min": 1704067230, "max": 1704499200})
    records = generate_records(schema=schema, count=100, constraints=constraints)
    days = {datetime.strptime(r["day"], "%d/%m/%Y").day for r in records}
    assert days == {2, 3, 4, 5, 6}  # 2024-01-02 … 2024-01-06: not the 1st, begun before min
