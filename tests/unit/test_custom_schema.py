"""A caller's own schema: all 13 field types, nesting and arrays, realistic values by name."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime

from ..conftest import generate_records

ALL_TYPES = [
    {"name": "customer_name", "type": "STRING", "required": True},
    {"name": "age", "type": "INTEGER", "required": True},
    {"name": "score", "type": "FLOAT", "required": True},
    {"name": "active", "type": "BOOLEAN", "required": True},
    {"name": "birthday", "type": "DATE", "required": True},
    {"name": "seen_at", "type": "DATETIME", "required": True},
    {"name": "email", "type": "EMAIL", "required": True},
    {"name": "phone", "type": "PHONE", "required": True},
    {"name": "home", "type": "ADDRESS", "required": True},
    {"name": "id", "type": "UUID", "required": True},
    {"name": "tier", "type": "ENUM", "required": True},
    {
        "name": "profile",
        "type": "OBJECT",
        "nested_fields": [{"name": "bio", "type": "STRING"}, {"name": "city", "type": "STRING"}],
    },
    {"name": "tags", "type": "ARRAY", "nested_fields": [{"name": "item", "type": "STRING"}]},
    {
        "name": "visits",
        "type": "ARRAY",
        "nested_fields": [{"name": "at", "type": "DATETIME"}, {"name": "pages", "type": "INTEGER"}],
    },
]


def test_every_field_type_generates_values_of_its_kind() -> None:
    records = generate_records(
        entity="member",
        schema={"fields": ALL_TYPES},
        count=100,
        constraints={
            "field_constraints": {
                "tier": {"enum_values": ["gold", "silver"]},
                "age": {"min": 18, "max": 90},
            }
        },
    )
    for r in records:
        assert " " in r["customer_name"]
        assert 18 <= r["age"] <= 90
        assert isinstance(r["score"], float) and isinstance(r["active"], bool)
        date.fromisoformat(r["birthday"])
        assert datetime.fromisoformat(r["seen_at"]).tzinfo is not None
        assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", r["email"])
        assert sum(ch.isdigit() for ch in r["phone"]) >= 7
        assert set(r["home"]) == {"street", "city", "state", "postal_code", "country"}
        assert uuid.UUID(r["id"]).version == 4
        assert r["tier"] in {"gold", "silver"}
        assert set(r["profile"]) == {"bio", "city"}
        assert all(isinstance(t, str) for t in r["tags"])
        assert all(set(v) == {"at", "pages"} for v in r["visits"])
    assert len({r["id"] for r in records}) == 100


def test_locale_changes_names_and_addresses() -> None:
    fields = [{"name": "first_name", "type": "STRING"}, {"name": "home", "type": "ADDRESS"}]
    us = generate_records(entity="p", schema={"fields": fields}, count=30, seed=1)
    de = generate_records(entity="p", schema={"fields": fields}, count=30, seed=1, locale="de_DE")
    assert {r["home"]["country"] for r in us} == {"United States"}
    assert {r["home"]["country"] for r in de} == {"Germany"}
    assert {r["first_name"] for r in us} != {r["first_name"] for r in de}
