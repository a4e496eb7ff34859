"""The coherence scorer on records it did not make: each broken rule is found and named."""

from __future__ import annotations

import copy
from typing import Any

from tda.domain.coherence import score_records
from tda.domain.schema.registry import get_entity

from ..conftest import generate_records

CART = get_entity("cart")


def _broken(mutate: str) -> set[str]:
    record = copy.deepcopy(generate_records(entity="cart", count=1, seed=3)[0])
    if mutate == "math":
        record["total"] = round(record["total"] + 1, 2)
    elif mutate == "subtotal":
        record["items"][0]["quantity"] += 1
        record["items"][0]["line_total"] = round(
            record["items"][0]["line_total"] + record["items"][0]["price"], 2
        )
    elif mutate == "dates":
        record["created_at"], record["updated_at"] = "2025-06-02T00:00:00Z", "2025-06-01T00:00:00Z"
    elif mutate == "affinity":
        record["items"] = [
            {
                "sku": "A",
                "name": "Running Shoes",
                "category": "Athletic Footwear",
                "quantity": 1,
                "price": 10.0,
                "line_total": 10.0,
            },
            {
                "sku": "B",
                "name": "Chef Knife",
                "category": "Cutlery",
                "quantity": 1,
                "price": 5.0,
                "line_total": 5.0,
            },
        ]
    report = score_records(CART, [record])
    assert report.score < 1.0
    return set(report.violations_by_rule)


def test_each_broken_rule_is_named() -> None:
    assert _broken("math") == {"total_is_subtotal_plus_tax"}
    assert _broken("subtotal") == {"subtotal_is_sum_of_lines"}
    assert _broken("dates") == {"dates_in_order"}
    assert "items_share_an_occasion" in _broken("affinity")


def test_coherent_llm_style_cart_scores_high_and_random_one_low() -> None:
    coherent: dict[str, Any] = {
        "cart_id": "CRT-2025-AAAAAAA",
        "customer_id": "USR-AAAAAAA",
        "currency": "USD",
        "items": [
            {
                "sku": "NIKE-SHOE-BLK-10",
                "name": "Running Shoes",
                "category": "Athletic Footwear",
                "quantity": 1,
                "price": 129.99,
                "line_total": 129.99,
            },
            {
                "sku": "NIKE-SOCK-WHT-M",
                "name": "Athletic Socks",
                "category": "Activewear",
                "quantity": 3,
                "price": 12.99,
                "line_total": 38.97,
            },
        ],
        "subtotal": 168.96,
        "tax_rate": 0.08,
        "tax": 13.52,
        "total": 182.48,
        "created_at": "2025-01-01T10:00:00Z",
        "updated_at": "2025-01-01T11:00:00Z",
    }
    random_cart = copy.deepcopy(coherent)
    random_cart["items"][1].update(name="Lipstick", category="Makeup")
    random_cart["items"][0]["quantity"] = 40
    random_cart["total"] = 1.0
    random_cart["updated_at"] = "2024-01-01T00:00:00Z"
    assert score_records(CART, [coherent]).score == 1.0
    assert score_records(CART, [random_cart]).score < 0.5


def test_unreadable_values_count_as_broken_not_as_crashes() -> None:
    report = score_records(CART, [{"items": "nope", "total": "x", "created_at": None}])
    assert 0.0 <= report.score < 1.0
