"""Writes the seed corpus (layers/tda/data/rag/*.ndjson): run once, output committed.

Patterns: for each entity, curated scenarios (a shopping occasion, a status, a method, a
sentiment, a tier...), each example picked from records the traditional engine made with a
fixed seed as the first that fits the scenario, described in words a search will match.
Defects: the seeds' ten, and more, written out below. Production samples: a distribution
profile per entity (written below: what a production export's statistics would say), with a
few records drawn through it.

    python scripts/build_rag_corpus.py
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tda.domain.plan import GenerationPlan, ScenarioPlan
from tda.domain.schema.registry import get_entity
from tda.paths.retrieval.production import production_spec
from tda.paths.traditional.bulk import stream_records

OUT = Path(__file__).resolve().parents[1] / "layers" / "tda" / "data" / "rag"
Record = dict[str, Any]


def pool(entity: str, n: int = 4000, seed: int = 20261203) -> list[Record]:
    spec = get_entity(entity)
    plan = GenerationPlan(spec, n, seed, "en_US", (ScenarioPlan("default", n),))
    records = [r for b in stream_records(plan, score=False) for r in b.records]
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in records]


def categories(record: Record) -> set[str]:
    return {i["category"] for i in record.get("items", [])}


OCCASIONS = {
    "fitness": {"Athletic Footwear", "Activewear", "Fitness Accessories", "Fitness Electronics"},
    "date_night": {"Dresses", "Womens Shoes", "Handbags", "Jewelry"},
    "home": {"Bedding", "Home Decor", "Bath"},
    "baby": {"Baby Clothing", "Baby Bedding", "Baby Toys", "Baby Gifts"},
    "beauty": {"Makeup", "Beauty Tools", "Skincare"},
}
WORDS = {
    "fitness": "marathon training and gym workout: running shoes, athletic socks, water bottle",
    "date_night": "date night outfit: cocktail dress, heels, evening clutch, jewelry",
    "home": "home refresh: bedding set, pillows, throw blanket, scented candles",
    "baby": "baby shower gift: onesies, swaddle blanket, stuffed bear, card",
    "beauty": "beauty haul: lipstick, mascara, foundation, skincare serum",
}


def first(records: list[Record], fits: Callable[[Record], bool], used: set[int]) -> Record:
    for i, r in enumerate(records):
        if i not in used and fits(r):
            used.add(i)
            return r
    raise LookupError("no record fits")


def patterns() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(entity: str, scenario: str, description: str, record: Record, q: float) -> None:
        out.append({
            "id": f"PAT-{entity.upper()}-{len([p for p in out if p['entity'] == entity]) + 1:03d}",
            "domain": "ecommerce", "entity": entity, "scenario": scenario,
            "description": description, "quality_score": q, "record": record,
        })  # fmt: skip

    for entity in ("cart", "order"):
        records, used = pool(entity), set()
        for k, (occasion, cats) in enumerate(OCCASIONS.items()):
            r = first(records, lambda r, c=cats: categories(r) <= c and len(r["items"]) >= 3, used)
            add(entity, "happy_path", f"{entity} for {WORDS[occasion]}", r, 0.97 - k * 0.01)
        r = first(records, lambda r: r["total"] > 500, used)
        add(entity, "high_value", f"high value {entity} with total over $500", r, 0.95)
        r = first(records, lambda r: len(r["items"]) == 1, used)
        add(entity, "single_item", f"{entity} with only one item", r, 0.93)
        if entity == "cart":
            r = first(records, lambda r: r["currency"] == "CAD", used)
            add(entity, "canadian", "cart in Canadian dollars (CAD) for a Canada shopper", r, 0.9)
        else:
            for status, words in (
                ("refunded", "refunded order after a return"),
                ("cancelled", "cancelled order before shipping"),
                ("delivered", "delivered order with completion date"),
            ):
                r = first(records, lambda r, s=status: r["status"] == s, used)
                add(entity, status, words, r, 0.94)
            r = first(records, lambda r: r["shipping_method"] == "bopis", used)
            add(entity, "bopis", "buy online pick up in store (BOPIS) order, no shipping", r, 0.93)
    records, used = pool("payment"), set()
    for method, status, words in (
        ("credit_card", "captured", "credit card payment captured for ApplePay checkout testing"),
        ("apple_pay", "captured", "Apple Pay wallet payment captured"),
        ("paypal", "captured", "PayPal payment captured"),
        ("credit_card", "declined", "declined card payment, insufficient funds"),
        ("debit_card", "refunded", "refunded debit card payment after a return"),
        ("gift_card", "authorized", "gift card payment authorized"),
    ):
        r = first(
            records, lambda r, m=method, s=status: r["method"] == m and r["status"] == s, used
        )
        add("payment", status, words, r, 0.95)
    records, used = pool("product"), set()
    for occasion, cats in OCCASIONS.items():
        r = first(records, lambda r, c=cats: r["category"] in c and r["is_active"], used)
        add("product", "catalog", f"product for {WORDS[occasion]}", r, 0.94)
    r = first(records, lambda r: r["stock"] == 0 or not r["is_active"], used)
    add("product", "out_of_stock", "inactive or out of stock product", r, 0.9)
    records, used = pool("review"), set()
    for rating, words in (
        (5, "five star positive review, loved it"),
        (4, "four star positive review with a small complaint"),
        (3, "three star neutral mixed review"),
        (2, "two star negative review, disappointed"),
        (1, "one star angry negative review, returned it"),
    ):
        r = first(records, lambda r, n=rating: r["rating"] == n and r["verified_purchase"], used)
        add("review", "sentiment", words, r, 0.95)
    r = first(records, lambda r: not r["verified_purchase"], used)
    add("review", "unverified", "review from a shopper without a verified purchase", r, 0.9)
    records, used = pool("user"), set()
    for tier in ("Bronze", "Silver", "Gold", "Platinum"):
        r = first(records, lambda r, t=tier: r["loyalty_tier"] == t, used)
        add("user", "loyalty", f"Star Rewards {tier} tier customer profile", r, 0.95)
    r = first(records, lambda r: len(r["addresses"]) == 2 and not r["marketing_opt_in"], used)
    add("user", "two_addresses", "customer with two addresses who opted out of marketing", r, 0.92)
    return out


DEFECTS: list[dict[str, Any]] = [
    {"id": "DEF-001", "entity": "order", "edge_case_type": "midnight_utc_timestamp",
     "description": "Order placed exactly at midnight UTC was counted in the previous day's sales report",
     "severity": "high", "discovered_at": "2025-03-11", "trigger": {"created_at": "2026-03-08T00:00:00Z"}},
    {"id": "DEF-002", "entity": "order", "edge_case_type": "dst_boundary_timestamp",
     "description": "Order created during the US daylight saving jump (02:00 EST does not exist) showed a negative delivery time",
     "severity": "medium", "discovered_at": "2025-03-10", "trigger": {"created_at": "2026-03-08T07:00:00Z"}},
    {"id": "DEF-003", "entity": "user", "edge_case_type": "unicode_emoji_name",
     "description": "Customer name with emoji and accents broke the loyalty card printer and the CSV export",
     "severity": "high", "discovered_at": "2024-11-02", "trigger": {"first_name": "Zoë 🎉", "last_name": "Ñúñez-O'Brien"}},
    {"id": "DEF-004", "entity": "review", "edge_case_type": "max_length_string",
     "description": "Review title at the 120-character maximum overflowed the product page card layout",
     "severity": "low", "discovered_at": "2024-08-19",
     "trigger": {"title": "Absolutely wonderful headphones but the case zipper broke after two weeks and support never answered my emails at all!!"}},
    {"id": "DEF-005", "entity": "payment", "edge_case_type": "zero_amount_payment",
     "description": "Zero-amount payment from a fully discounted order was sent to the card processor and rejected",
     "severity": "critical", "discovered_at": "2025-01-27", "trigger": {"amount": 0.0}},
    {"id": "DEF-006", "entity": "cart", "edge_case_type": "negative_quantity",
     "description": "Negative item quantity from a stale mobile client produced a negative cart total (should be rejected)",
     "severity": "critical", "discovered_at": "2024-12-05", "trigger": {"items[0].quantity": -1}},
    {"id": "DEF-007", "entity": "review", "edge_case_type": "sql_injection_text",
     "description": "Review body with SQL injection text was executed by the legacy moderation report",
     "severity": "critical", "discovered_at": "2023-06-14", "trigger": {"body": "Great shoes'); DROP TABLE reviews;-- would buy again"}},
    {"id": "DEF-008", "entity": "order", "edge_case_type": "missing_required_field",
     "description": "Order without customer_id from the guest checkout crashed the fulfillment service",
     "severity": "high", "discovered_at": "2025-05-30", "remove": ["customer_id"]},
    {"id": "DEF-009", "entity": "payment", "edge_case_type": "unknown_enum_value",
     "description": "Payment method 'BNPL' from a new provider was not in the enum and broke refunds",
     "severity": "high", "discovered_at": "2025-07-08", "trigger": {"method": "bnpl"}},
    {"id": "DEF-010", "entity": "payment", "edge_case_type": "sub_cent_precision",
     "description": "Amount with 0.001 precision from a currency conversion rounded differently in ledger and gateway",
     "severity": "high", "discovered_at": "2024-10-21", "trigger": {"amount": 10.001}},
    {"id": "DEF-011", "entity": "order", "edge_case_type": "far_future_date",
     "description": "Order dated 2099 from a device with a wrong clock was never archived and skewed reports",
     "severity": "medium", "discovered_at": "2025-02-02", "trigger": {"created_at": "2099-12-31T23:59:59Z"}},
    {"id": "DEF-012", "entity": "cart", "edge_case_type": "max_quantity",
     "description": "Cart with quantity 99 of one item exceeded the warehouse reservation limit",
     "severity": "medium", "discovered_at": "2025-04-16", "trigger": {"items[0].quantity": 99}},
    {"id": "DEF-013", "entity": "user", "edge_case_type": "leap_day_birthday",
     "description": "Customer born on February 29 never received a birthday reward in non-leap years",
     "severity": "low", "discovered_at": "2025-03-01", "trigger": {"date_of_birth": "1996-02-29"}},
    {"id": "DEF-014", "entity": "product", "edge_case_type": "zero_stock_active",
     "description": "Active product with zero stock was still shown as available and oversold",
     "severity": "high", "discovered_at": "2024-09-09", "trigger": {"stock": 0, "is_active": True}},
    {"id": "DEF-015", "entity": "payment", "edge_case_type": "max_amount_boundary",
     "description": "Payment at the 2500.00 limit was rejected by an off-by-one comparison",
     "severity": "medium", "discovered_at": "2025-06-12", "trigger": {"amount": 2500.0}},
    {"id": "DEF-016", "entity": "user", "edge_case_type": "plus_addressed_email",
     "description": "Email with a plus tag and apostrophe failed the marketing sync's validation",
     "severity": "medium", "discovered_at": "2024-07-22", "trigger": {"email": "o'brien+promo@example.com"}},
]  # fmt: skip

PROFILES: dict[str, dict[str, Any]] = {
    "cart": {"description": "cart export: mostly single units, USD, 1-3 items",
             "categorical": {"currency": {"USD": 0.97, "CAD": 0.03},
                             "items.quantity": {"1": 0.72, "2": 0.19, "3": 0.06, "4": 0.03}}},
    "order": {"description": "order export: most delivered, a quarter picked up in store",
              "categorical": {"status": {"delivered": 0.55, "shipped": 0.15, "paid": 0.1, "pending": 0.08,
                                         "cancelled": 0.07, "refunded": 0.05},
                              "shipping_method": {"standard": 0.5, "express": 0.2, "same_day": 0.05, "bopis": 0.25},
                              "payment_method": {"credit_card": 0.33, "apple_pay": 0.2, "paypal": 0.15,
                                                 "debit_card": 0.12, "google_pay": 0.08, "store_card": 0.08,
                                                 "gift_card": 0.04}}},
    "payment": {"description": "payment export: cards and Apple Pay, median $64, long tail",
                "categorical": {"method": {"credit_card": 0.35, "apple_pay": 0.3, "paypal": 0.15,
                                           "debit_card": 0.1, "google_pay": 0.05, "gift_card": 0.05},
                                "status": {"captured": 0.8, "authorized": 0.08, "declined": 0.07,
                                           "refunded": 0.04, "pending": 0.01}},
                "numeric": {"amount": [[0.0, 1.5], [0.25, 28.0], [0.5, 64.0], [0.75, 129.0],
                                       [0.9, 240.0], [0.99, 900.0], [1.0, 2400.0]]}},
    "product": {"description": "catalog export: nearly all active, stock skewed low",
                "categorical": {"is_active": {"true": 0.97, "false": 0.03}},
                "numeric": {"stock": [[0.0, 0], [0.1, 2], [0.5, 24], [0.9, 140], [1.0, 480]]}},
    "review": {"description": "review export: helpful votes mostly zero",
               "numeric": {"helpful_votes": [[0.0, 0], [0.6, 0.4], [0.8, 3], [0.95, 18], [1.0, 420]]}},
    "user": {"description": "customer export: Star Rewards tiers, 41% opted in to marketing",
             "categorical": {"loyalty_tier": {"Bronze": 0.62, "Silver": 0.22, "Gold": 0.12, "Platinum": 0.04},
                             "marketing_opt_in": {"true": 0.41, "false": 0.59}}},
}  # fmt: skip


def production() -> list[dict[str, Any]]:
    out = []
    for entity, profile in PROFILES.items():
        stats = {k: v for k, v in profile.items() if k in ("categorical", "numeric")}
        spec, _, skipped = production_spec(get_entity(entity), stats)
        assert not skipped, skipped
        plan = GenerationPlan(spec, 12, 7, "en_US", (ScenarioPlan("default", 12),))
        records = [
            {k: v for k, v in r.items() if not k.startswith("_")}
            for b in stream_records(replace(plan), score=False)
            for r in b.records
        ]
        out.append({
            "id": f"PRD-{entity.upper()}-001", "domain": "ecommerce", "entity": entity,
            "description": profile["description"], "sample_date": "2026-11-30",
            "stats": stats, "records": records,
        })  # fmt: skip
    return out


def write(name: str, rows: list[dict[str, Any]]) -> None:
    lines = [json.dumps({"domain": "ecommerce", **row}, ensure_ascii=False) for row in rows]
    (OUT / f"{name}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{name}: {len(rows)}")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    write("patterns", patterns())
    write("defects", DEFECTS)
    write("production", production())
