"""The product catalog (``data/catalog.yaml``) as arrays, for joint draws and affinity checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import yaml

CATALOG_FILE = Path(__file__).resolve().parent.parent / "data" / "catalog.yaml"
ALL_OCCASIONS = np.int64(-1)  # bit mask of an item the catalog cannot place: neutral


def brand_code(brand: str) -> str:
    """SKU brand code: the first four letters of the brand, upper case (``Hydro Flask`` → HYDR)."""
    return re.sub(r"[^A-Za-z]", "", brand).upper()[:4]


@dataclass(frozen=True)
class Product:
    occasion: int
    name: str
    category: str
    code: str
    min_cents: int
    max_cents: int
    sizes: tuple[str, ...]
    brands: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    occasions: tuple[str, ...]
    keywords: tuple[tuple[str, ...], ...]
    products: tuple[Product, ...]
    colors: tuple[tuple[str, str], ...]
    adjectives: tuple[str, ...]
    features: tuple[str, ...]

    def products_in(self, occasion: int) -> list[int]:
        return [i for i, p in enumerate(self.products) if p.occasion == occasion]

    @property
    def category_masks(self) -> dict[str, int]:
        return _category_masks(self)

    def occasion_mask(self, category: object, name: object) -> int:
        """Bit set of the occasions an item may belong to, by category, else by keywords."""
        masks = self.category_masks
        if isinstance(category, str) and category.lower() in masks:
            return masks[category.lower()]
        text = f"{category or ''} {name or ''}".lower()
        mask = 0
        for bit, words in enumerate(self.keywords):
            if any(word in text for word in words):
                mask |= 1 << bit
        return mask or int(ALL_OCCASIONS)


@cache
def _category_masks(catalog: Catalog) -> dict[str, int]:
    masks: dict[str, int] = {}
    for product in catalog.products:
        key = product.category.lower()
        masks[key] = masks.get(key, 0) | (1 << product.occasion)
    return masks


@cache
def load_catalog() -> Catalog:
    data = yaml.load(CATALOG_FILE.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    occasions = tuple(data["occasions"])
    products = []
    for bit, name in enumerate(occasions):
        for p in data["occasions"][name]["products"]:
            lo, hi = p["price"]
            # Prices end in .99 (lo..hi whole dollars, minus one cent), as shelves do.
            products.append(
                Product(
                    occasion=bit,
                    name=p["name"],
                    category=p["category"],
                    code=p["code"],
                    min_cents=int(lo) * 100 - 1 if lo > 0 else 99,
                    max_cents=int(hi) * 100 - 1,
                    sizes=tuple(str(s) for s in p["sizes"]),
                    brands=tuple(p["brands"]),
                )
            )
    return Catalog(
        occasions=occasions,
        keywords=tuple(tuple(data["occasions"][o]["keywords"]) for o in occasions),
        products=tuple(products),
        colors=tuple((c[0], c[1]) for c in data["colors"]),
        adjectives=tuple(data["adjectives"]),
        features=tuple(data["features"]),
    )
