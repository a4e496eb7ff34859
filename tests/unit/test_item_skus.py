"""An item's SKU made from the name a model wrote (``Catalog.sku_for``): what the name says
(brand, product line, color) replaces the parts of the SKU it was laid over; the rest stays."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tda.domain.catalog import load_catalog

BASE = "ADID-SHOE-GRY-11"


@pytest.mark.parametrize(
    ("name", "sku"),
    [
        ("Hydro Flask Insulated Water Bottle (Blue)", "HYDR-BOTL-BLU-OS"),  # all known
        ("Coleman Sundome Tent (Green)", "COLE-TENT-GRN-11"),  # brand and line unknown
        ("Running Shoes (Black)", "ADID-SHOE-BLK-11"),  # no brand named: the base's kept
        ("Blue Yoga Mat", "ADID-YMAT-BLU-OS"),  # a color before the line is no brand
        ("Headlamp", "ADID-HEAD-GRY-11"),  # one word: a line, not a brand
        ("ベアのぬいぐるみ", BASE),  # nothing in ASCII letters: the base whole
        ("", BASE),
    ],
)
def test_a_sku_follows_what_the_name_says(name: str, sku: str) -> None:
    assert load_catalog().sku_for(name, BASE) == sku


def test_a_given_brand_wins_and_a_sku_of_another_shape_is_kept() -> None:
    catalog = load_catalog()
    assert catalog.sku_for("Forerunner 265 (Black)", "FITB-TRKR-GRY-OS", "Garmin") == (
        "GARM-TRKR-BLK-OS"
    )
    assert catalog.sku_for("Nike Running Shoes", "SKU123") == "SKU123"


def test_a_catalog_without_products_or_colors_reads_only_the_brand() -> None:
    # An empty alternation matches everywhere: it was a KeyError on the first name.
    empty = replace(load_catalog(), products=(), colors=())
    assert empty.sku_for("Nike Running Shoes (Blue)", BASE) == "NIKE-SHOE-GRY-11"
