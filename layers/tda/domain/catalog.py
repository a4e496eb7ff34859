"""The product catalog (``data/catalog.yaml``) as arrays, for joint draws and affinity checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from tda.domain.data_file import load_data_file
from tda.domain.text import CACHED_TEXT_CHARS, cached_when_short

CATALOG_FILE = Path(__file__).resolve().parent.parent / "data" / "catalog.yaml"
ALL_OCCASIONS = np.int64(-1)  # bit mask of an item the catalog cannot place: neutral
# How far from what the catalog sells an item's kind for its price may be, either way.
PRICE_SLACK = 2
KEYWORD_MASKS_KEPT = 8192  # texts whose occasions are remembered; then the memory starts over


# A model's item name is read this far for its SKU: a product's name is a few words.
SKU_NAME_CHARS = 200


def _whole_words(texts: Any) -> re.Pattern[str]:
    """Any of ``texts`` as whole words, case-insensitive, the longest first (a product line
    "Water Bottle" and "Insulated Water Bottle": the longer is the one named)."""
    ordered = sorted({t for t in texts if t}, key=len, reverse=True)
    if not ordered:
        return re.compile(r"(?!)")  # matches nothing (an empty alternation matches anywhere)
    return re.compile(r"\b(?:" + "|".join(map(re.escape, ordered)) + r")\b", re.IGNORECASE)


@cached_when_short(4096)  # a handful of brands, asked once an item
def brand_code(brand: str) -> str:
    """SKU brand code: the first four letters of the brand, upper case (``Hydro Flask`` → HYDR)."""
    return re.sub(r"[^A-Za-z]", "", brand).upper()[:4]


@dataclass(frozen=True)
class Product:
    """One product line: its occasion, name, category, code, price range, sizes and brands."""

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
    """The products a cart or order draws from, by shopping occasion, and the words around them."""

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

    def price_bounds_cents(self, mask: int) -> tuple[float, float]:
        """The unit prices an item of the occasions in ``mask`` may have: half the lowest and
        twice the highest the catalog sells them for (a sale, a premium brand), in cents; any
        price for an item the catalog cannot place, or whose occasions sell nothing."""
        prices = self._occasion_prices
        sold = [prices[o] for o in range(len(self.occasions)) if mask >> o & 1 and o in prices]
        if mask == ALL_OCCASIONS or not sold:
            return -np.inf, np.inf
        return min(lo for lo, _ in sold) / PRICE_SLACK, max(hi for _, hi in sold) * PRICE_SLACK

    @cached_property
    def _occasion_prices(self) -> dict[int, tuple[int, int]]:
        """The lowest and highest price of each occasion's products, in cents."""
        prices: dict[int, tuple[int, int]] = {}
        for p in self.products:
            lo, hi = prices.get(p.occasion, (p.min_cents, p.max_cents))
            prices[p.occasion] = (min(lo, p.min_cents), max(hi, p.max_cents))
        return prices

    def occasion_mask(self, category: object, name: object) -> int:
        """Bit set of the occasions an item may belong to, by category, else by keywords."""
        if isinstance(category, str):
            known = self.category_masks.get(category.lower())
            if known is not None:
                return known
        text = f"{category or ''} {name or ''}".lower()
        if len(text) > CACHED_TEXT_CHARS:
            return self._keyword_mask(text)
        masks = self._masks_by_text
        mask = masks.get(text)
        if mask is None:
            if len(masks) >= KEYWORD_MASKS_KEPT:
                masks.clear()
            mask = masks[text] = self._keyword_mask(text)
        return mask

    @cached_property
    def _masks_by_text(self) -> dict[str, int]:
        # A model names the same few products again and again, request after request.
        return {}

    def _keyword_mask(self, text: str) -> int:
        mask = 0
        for bit, pattern in self._keyword_patterns:
            if pattern.search(text):
                mask |= 1 << bit
        return mask or int(ALL_OCCASIONS)

    @cached_property
    def _keyword_patterns(self) -> tuple[tuple[int, re.Pattern[str]], ...]:
        # One alternation an occasion: a model's items miss the categories, so every item of a
        # model-written cart is placed by keywords (one `in` a word was ≈10% of a call's CPU).
        return tuple(
            (bit, re.compile("|".join(map(re.escape, words))))
            for bit, words in enumerate(self.keywords)
            if words
        )

    def sku_for(self, name: str, base_sku: str, brand: str | None = None) -> str:
        """The SKU (``{BRAND}-{CAT}-{COLOR}-{SIZE}``) of an item a model named, from the name:
        the brand it begins with (``brand`` when given), the product line it names (else its
        last word) and its color; what the name does not say is kept from ``base_sku``, the
        size too unless the line has no such size. "Hydro Flask Insulated Water Bottle (Blue)"
        → HYDR-BOTL-BLU-OS; "Coleman Sundome Tent" → COLE-TENT-…: the SKU laid over from
        another product said ADID-SHOE on a tent."""
        parts = base_sku.split("-", 3)
        if len(parts) != 4:
            return base_sku
        text = name[:SKU_NAME_CHARS]
        words = text.partition("(")[0].split()
        found = self._sku_lines.search(text)
        line = self._lines.get(found.group(0).lower()) if found else None
        if line is not None:
            parts[1] = line.code
            parts[3] = parts[3] if parts[3] in line.sizes else line.sizes[0]
        elif words and len(code := brand_code(words[-1])) >= 2:
            parts[1] = code
        parts[0] = brand_code(brand or self._named_brand(text, words, found)) or parts[0]
        color = self._sku_colors.search(text)
        if color:
            parts[2] = self._color_codes.get(color.group(0).lower(), parts[2])
        return "-".join(parts)

    def _named_brand(self, text: str, words: list[str], line: re.Match[str] | None) -> str:
        """A known brand the name begins with; else the words before the product line it
        names, or its first word if it has more (a color is not a brand); else none."""
        known = self._sku_brands.match(text)
        if known:
            return known.group(0)
        before = text[: line.start()] if line else (words[0] if len(words) > 1 else "")
        return "" if self._sku_colors.fullmatch(before.strip()) else before

    @cached_property
    def _lines(self) -> dict[str, Product]:
        return {p.name.lower(): p for p in self.products}

    @cached_property
    def _color_codes(self) -> dict[str, str]:
        return {name.lower(): code for name, code in self.colors}

    @cached_property
    def _sku_lines(self) -> re.Pattern[str]:
        return _whole_words(p.name for p in self.products)

    @cached_property
    def _sku_brands(self) -> re.Pattern[str]:
        return _whole_words(b for p in self.products for b in p.brands)

    @cached_property
    def _sku_colors(self) -> re.Pattern[str]:
        return _whole_words(name for name, _ in self.colors)

    @cached_property
    def variants(self) -> Variants:
        return _variants(self)

    def variant_column(
        self,
        attr: str,
        product: np.ndarray,
        brand: np.ndarray,
        color: np.ndarray,
        size: np.ndarray,
    ) -> np.ndarray:
        """``attr`` (one of VARIANT_ATTRS) of each drawn variant. From the whole table once it
        is built, or once the draws so far are enough to pay for it; the first small draws
        format their own few (the table is ≈10 ms of a cold process's first small request, and
        a model path's requests each draw a few dozen). Same texts."""
        drawn_so_far = self._small_draws
        drawn_so_far[0] += len(product)
        if "variants" in self.__dict__ or drawn_so_far[0] >= VARIANT_TABLE_MIN_DRAWS:
            table = self.variants
            rows = table.rows(product, brand, color, size, len(self.colors))
            column: np.ndarray = getattr(table, attr)[rows]
            return column
        at = VARIANT_ATTRS.index(attr)
        texts = np.empty(len(product), dtype=object)
        for i, (p, b, c, s) in enumerate(
            zip(product.tolist(), brand.tolist(), color.tolist(), size.tolist(), strict=True)
        ):
            drawn = self.products[p]
            b, s = b % len(drawn.brands), s % len(drawn.sizes)
            texts[i] = _variant_texts(self, drawn, b, c, s, brand_code(drawn.brands[b]))[at]
        return texts

    @cached_property
    def _small_draws(self) -> list[int]:
        # Texts drawn without the table, in all (a one-item list: the dataclass is frozen).
        return [0]


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


VARIANT_ATTRS = ("category", "name", "sku", "brand", "description")
# Below this many draws in all, formatting each costs less than the 20K-row table (≈1 µs a text).
VARIANT_TABLE_MIN_DRAWS = 512


def _variant_texts(
    catalog: Catalog, product: Product, b: int, c: int, s: int, code: str
) -> tuple[str, str, str, str, str]:
    """A variant's texts in VARIANT_ATTRS' order: a table row, or a small draw's own."""
    brand, size = product.brands[b], product.sizes[s]
    color, color_code = catalog.colors[c]
    adjective = catalog.adjectives[(b + s) % len(catalog.adjectives)]
    feature = catalog.features[(c + s) % len(catalog.features)]
    return (
        product.category,
        f"{brand} {product.name} ({color})",
        f"{code}-{product.code}-{color_code}-{size}",
        brand,
        f"{adjective} {product.name.lower()} by {brand} in {color.lower()}, {feature}.",
    )


def _variants(catalog: Catalog) -> Variants:
    rows: list[tuple[str, ...]] = []
    offsets, n_brands, n_sizes = [], [], []
    for product in catalog.products:
        offsets.append(len(rows))
        n_brands.append(len(product.brands))
        n_sizes.append(len(product.sizes))
        for b, brand in enumerate(product.brands):
            code = brand_code(brand)  # once a brand, not once a row (a first request's ms)
            for c in range(len(catalog.colors)):
                for s in range(len(product.sizes)):
                    rows.append(_variant_texts(catalog, product, b, c, s, code))

    def as_objects(values: tuple[str, ...]) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    columns = dict(zip(VARIANT_ATTRS, zip(*rows, strict=True), strict=True))
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
