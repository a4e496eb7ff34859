"""The product catalog (``data/catalog.yaml``) as arrays, for joint draws and affinity checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from tda.domain.data_file import load_data_file

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
    # A model-written review vocabulary: (sentiment, phrases) pairs; empty: the shipped one.
    review_titles: tuple[tuple[str, tuple[str, ...]], ...] = ()
    review_bodies: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Model-written people for a context (users' personas); empty: the locale's name pools.
    first_names: tuple[str, ...] = ()
    last_names: tuple[str, ...] = ()

    def review_bank(self, kind: str) -> dict[str, tuple[str, ...]] | None:
        """``titles`` or ``bodies`` by sentiment, when this catalog carries its own."""
        pairs = self.review_titles if kind == "titles" else self.review_bodies
        return dict(pairs) if pairs else None

    @cached_property
    def category_masks(self) -> dict[str, int]:
        masks: dict[str, int] = {}
        for product in self.products:
            key = product.category.lower()
            masks[key] = masks.get(key, 0) | (1 << product.occasion)
        return masks

    def occasion_mask(self, category: object, name: object) -> int:
        """Bit set of the occasions an item may belong to, by category, else by keywords."""
        if isinstance(category, str):
            known = self.category_masks.get(category.lower())
            if known is not None:
                return known
        return self._keyword_mask(f"{category or ''} {name or ''}".lower())

    def _keyword_mask(self, text: str) -> int:
        mask = 0
        for bit, words in enumerate(self.keywords):
            if any(word in text for word in words):
                mask |= 1 << bit
        return mask or int(ALL_OCCASIONS)

    @cached_property
    def variants(self) -> Variants:
        return _variants(self)


@dataclass(frozen=True)
class Variants:
    """Every (product, brand, color, size) as one row, so draws become numpy indexing.

    Row of a draw: ``offset[p] + ((brand % n_brands[p]) * n_colors + color) * n_sizes[p]
    + size % n_sizes[p]``; ``name``, ``sku``, ``brand``... are object arrays over the rows.
    """

    offset: np.ndarray
    n_brands: np.ndarray
    n_sizes: np.ndarray
    category: np.ndarray
    name: np.ndarray
    sku: np.ndarray
    brand: np.ndarray
    description: np.ndarray

    def rows(
        self,
        product: np.ndarray,
        brand: np.ndarray,
        color: np.ndarray,
        size: np.ndarray,
        n_colors: int,
    ) -> np.ndarray:
        nb = self.n_brands[product]
        ns = self.n_sizes[product]
        return self.offset[product] + ((brand % nb) * n_colors + color) * ns + size % ns


def _variants(catalog: Catalog) -> Variants:
    columns: dict[str, list[str]] = {
        k: [] for k in ("category", "name", "sku", "brand", "description")
    }
    offsets, n_brands, n_sizes = [], [], []
    for product in catalog.products:
        offsets.append(len(columns["name"]))
        n_brands.append(len(product.brands))
        n_sizes.append(len(product.sizes))
        lower_name = product.name.lower()
        for b, brand in enumerate(product.brands):
            code = brand_code(brand)  # once a brand, not once a row (a first request's ms)
            for c, (color, color_code) in enumerate(catalog.colors):
                lower_color = color.lower()
                for s, size in enumerate(product.sizes):
                    adjective = catalog.adjectives[(b + s) % len(catalog.adjectives)]
                    feature = catalog.features[(c + s) % len(catalog.features)]
                    columns["category"].append(product.category)
                    columns["brand"].append(brand)
                    columns["name"].append(f"{brand} {product.name} ({color})")
                    columns["sku"].append(f"{code}-{product.code}-{color_code}-{size}")
                    columns["description"].append(
                        f"{adjective} {lower_name} by {brand} in {lower_color}, {feature}."
                    )

    def as_objects(values: list[str]) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    return Variants(
        offset=np.array(offsets, dtype=np.int64),
        n_brands=np.array(n_brands, dtype=np.int64),
        n_sizes=np.array(n_sizes, dtype=np.int64),
        **{k: as_objects(v) for k, v in columns.items()},
    )


@cache
def load_catalog() -> Catalog:
    """The shipped catalog (``data/catalog.yaml``)."""
    return catalog_from(load_data_file(CATALOG_FILE))


def catalog_from(data: dict[str, Any]) -> Catalog:
    """A catalog from data shaped as ``data/catalog.yaml`` (a model-written one is too)."""
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
