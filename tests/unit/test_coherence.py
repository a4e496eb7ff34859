"""The coherence scorer on records it did not make: each broken rule is found and named."""

from __future__ import annotations

import copy
from typing import Any

from tda.domain.catalog import catalog_from, load_catalog
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


def _cart_of(*items: tuple[str, str, float]) -> dict[str, Any]:
    """A cart whose sums hold, of (name, category, unit price) items, one of each."""
    lines = [
        {"sku": f"X-{i}", "name": n, "category": c, "quantity": 1, "price": p, "line_total": p}
        for i, (n, c, p) in enumerate(items)
    ]
    subtotal = round(sum(p for _, _, p in items), 2)
    return {
        "items": lines,
        "subtotal": subtotal,
        "tax_rate": 0.0,
        "tax": 0.0,
        "total": subtotal,
        "currency": "USD",
        "created_at": "2025-01-01T10:00:00Z",
        "updated_at": "2025-01-01T11:00:00Z",
    }


def test_an_item_priced_far_from_what_its_kind_sells_for_breaks_a_rule() -> None:
    # SmolLM2-135M (README "A real model, optionally") wrote a cart of "Fitness" at $1.90 and
    # "Macy's" at $0.40: every rule kept, coherence 1.0, and the cart was learned as a pattern.
    # A fitness item sells for $8.99-$248.99 in the catalog: $1.90 is not a price for one.
    garbage = score_records(CART, [_cart_of(("Fitness", "Shoppers & Fats", 1.90))])
    assert garbage.violations_by_rule == {"prices_fit_the_items": 1}
    assert garbage.score < 0.85  # below COHERENCE_THRESHOLD's default: not learned
    # A price off the shelf (a sale, a premium brand) is not a broken rule: half the lowest
    # and twice the highest of its kind still fit.
    for price in (4.50, 8.99, 129.99, 497.98):
        fitting = _cart_of(("Running Shoes", "Athletic Footwear", price))
        assert score_records(CART, [fitting]).score == 1.0, price
    for price in (4.49, 497.99):
        outlier = _cart_of(("Running Shoes", "Athletic Footwear", price))
        assert "prices_fit_the_items" in score_records(CART, [outlier]).violations_by_rule
    # An item the catalog cannot place has no price to keep to; one it can place still does.
    assert score_records(CART, [_cart_of(("Macy's", "Hands On", 0.40))]).score == 1.0
    mixed = _cart_of(("Macy's", "Hands On", 0.40), ("Yoga Mat", "Fitness Accessories", 0.99))
    assert score_records(CART, [mixed]).violations_by_rule == {"prices_fit_the_items": 1}
    # A product is held to the same prices.
    product = generate_records(entity="product", count=1, seed=5)[0]
    product.update(name="Fitness", category="Shoppers & Fats", price=1.90)
    report = score_records(get_entity("product"), [product])
    assert "price_fits_the_product" in report.violations_by_rule
    assert report.score < 0.85
    # The catalog's own draws keep it, in every entity whose items it prices.
    for entity in ("cart", "order", "product"):
        drawn = generate_records(entity=entity, count=300, seed=11)
        report = score_records(get_entity(entity), drawn)
        assert report.score == 1.0, (entity, report.violations_by_rule)


def test_a_model_written_catalog_prices_its_own_items() -> None:
    # Records are scored against the request's catalog when a model wrote one (catalog mode):
    # its prices, not the shipped ones; an occasion selling nothing holds an item to no price.
    shipped = load_catalog()
    catalog = catalog_from(
        {
            "occasions": {
                "camping": {
                    "keywords": ["tent", "camping"],
                    "products": [
                        {
                            "name": "Dome Tent",
                            "category": "Tents",
                            "code": "TENT",
                            "price": [120, 400],
                            "sizes": ["OS"],
                            "brands": ["Coleman"],
                        },
                    ],
                },
                "picnic": {"keywords": ["picnic", "blanket"], "products": []},
            },
            "colors": [list(c) for c in shipped.colors],
            "adjectives": list(shipped.adjectives),
            "features": list(shipped.features),
        }
    )
    tent = _cart_of(("Dome Tent", "Tents", 99.00))
    assert score_records(CART, [tent], catalog).score == 1.0  # $59.99 to $799.98 here
    assert score_records(CART, [tent]).score == 1.0  # the shipped catalog cannot place a tent
    cheap = _cart_of(("Dome Tent", "Tents", 19.00))
    assert score_records(CART, [cheap], catalog).violations_by_rule == {"prices_fit_the_items": 1}
    blanket = _cart_of(("Picnic Blanket", "Outdoor", 0.05))
    assert score_records(CART, [blanket], catalog).score == 1.0


def test_a_review_whose_body_repeats_its_title_breaks_a_rule() -> None:
    # SmolLM2 wrote reviews whose body was their title, word for word (18,346 of 50,000 in
    # catalog mode, mended there); such a review kept every rule and scored 1.0.
    review = generate_records(entity="review", count=1, seed=4)[0]
    review["body"] = review["title"]
    report = score_records(get_entity("review"), [review])
    assert report.violations_by_rule == {"body_is_not_the_title": 1}
    assert report.score < 0.85  # not learned
    drawn = generate_records(entity="review", count=500, seed=4)
    assert score_records(get_entity("review"), drawn).score == 1.0
