"""The validator: every error of every record, with its path and value."""

from __future__ import annotations

from tda.domain.schema.registry import get_entity
from tda.domain.validation import validate_records

from ..conftest import generate_records


def test_reports_all_errors_with_paths_not_just_the_first() -> None:
    good = generate_records(entity="cart", count=2)
    bad = dict(good[0])
    bad["items"] = [dict(bad["items"][0], quantity=0, price="free"), {"sku": "X"}]
    bad["currency"] = "EUR"
    bad["tax"] = -1
    del bad["total"]
    bad["created_at"] = "yesterday"
    bad["surprise"] = 1
    report = validate_records(get_entity("cart"), [good[1], bad])
    fields = {(i.index, i.field) for i in report.issues}
    assert fields >= {
        (1, "items[0].quantity"),
        (1, "items[0].price"),
        (1, "items[1].name"),
        (1, "currency"),
        (1, "tax"),
        (1, "total"),
        (1, "created_at"),
        (1, "surprise"),
    }
    assert report.invalid_indices == {1}
    by_field = {i.field: i for i in report.issues}
    assert by_field["items[0].quantity"].value == 0
    assert "≥ 1" in by_field["items[0].quantity"].message


def test_money_must_be_whole_cents_and_ids_follow_their_format() -> None:
    record = generate_records(entity="payment", count=1)[0]
    record = dict(record, amount=10.005, payment_id="PAY-1")
    fields = {i.field for i in validate_records(get_entity("payment"), [record]).issues}
    assert fields == {"amount", "payment_id"}


def test_meta_fields_are_allowed_at_the_top_level_only() -> None:
    record = dict(generate_records(entity="review", count=1)[0], _edge_case_type="unicode")
    assert validate_records(get_entity("review"), [record]).valid
