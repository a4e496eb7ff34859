"""Column providers: each makes one field's values for all rows of a batch level at once.

A provider is looked up in ``PROVIDERS`` by name (``generator`` in the schema data, or the
field-name table in ``data/semantics.yaml``, or the field's type). Providers of one family
(``person.*``, ``address.*``, ``catalog.*``) share one draw per object level, so a record's first
name, last name and email agree, and an item's name, category, SKU and price are one product.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tda.domain import regexes
from tda.domain.catalog import Catalog
from tda.domain.contract import FieldType
from tda.domain.data_file import load_data_file
from tda.domain.errors import InvalidRequestError
from tda.domain.schema.spec import (
    MONEY_FORMAT,
    FieldSpec,
    int_bounds,
    is_id_pattern,
    time_bounds,
)
from tda.domain.text import slug
from tda.domain.validation import EMAIL_RE, PHONE_RE
from tda.paths.traditional.pools import Pools

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
ALPHANUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
TAX_RATES = (
    0.0,
    0.04,
    0.0475,
    0.05,
    0.06,
    0.0625,
    0.065,
    0.07,
    0.0725,
    0.08,
    0.0825,
    0.0875,
    0.09,
    0.095,
)
REGEX_ATTEMPTS = 200
ID_TOKEN = re.compile(r"\{(year|random|digits)(?::(\d+))?\}")


@dataclass
class LevelContext:
    """What providers see while filling one object level (the record, an object, array items)."""

    rng: np.random.Generator
    pyrandom: random.Random
    pools: Pools
    catalog: Catalog
    n: int
    siblings: dict[str, np.ndarray] = field(default_factory=dict)
    # Occasion (catalog group) of each row's parent record, for array items of a basket.
    basket_occasions: np.ndarray | None = None
    draws: dict[str, Any] = field(default_factory=dict)


Provider = Callable[[FieldSpec, LevelContext, str], np.ndarray]
PROVIDERS: dict[str, Provider] = {}


def provider(*names: str) -> Callable[[Provider], Provider]:
    def register(fn: Provider) -> Provider:
        for name in names:
            PROVIDERS[name] = fn
        return fn

    return register


# --------------------------------------------------------------------------- resolution


@cache
def _semantics() -> list[tuple[re.Pattern[str], str, frozenset[str]]]:
    rows = load_data_file(DATA_DIR / "semantics.yaml")
    return [(re.compile(r["match"], re.I), r["generator"], frozenset(r["types"])) for r in rows]


def resolve(spec: FieldSpec) -> tuple[Provider, str]:
    """The provider for a scalar field, and its argument (text after ':' in ``generator``)."""
    name = spec.generator
    if name is None:
        if spec.regex is not None:
            name = "regex"
        elif is_id_pattern(spec.format):
            name = "pattern"
        elif spec.choices:
            name = "choice"
        else:
            name = _by_type(spec)
    base, _, arg = name.partition(":")
    if base not in PROVIDERS:
        raise InvalidRequestError.single(spec.path, f"unknown generator '{name}'")
    return PROVIDERS[base], arg


def _by_type(spec: FieldSpec) -> str:
    t = spec.type
    if t in (FieldType.STRING, FieldType.EMAIL, FieldType.PHONE, FieldType.FLOAT):
        for pattern, generator, types in _semantics():
            if t.value in types and pattern.search(spec.name):
                return generator
    return {
        FieldType.STRING: "text.words",
        FieldType.INTEGER: "int",
        FieldType.FLOAT: "money" if spec.format == MONEY_FORMAT else "float",
        FieldType.BOOLEAN: "bool",
        FieldType.DATE: "date",
        FieldType.DATETIME: "datetime",
        FieldType.EMAIL: "person.email",
        FieldType.PHONE: "phone",
        FieldType.UUID: "uuid",
        FieldType.ENUM: "enum",
        FieldType.ADDRESS: "address.line",
    }[t]


# --------------------------------------------------------------------------- helpers


def pick(pool: np.ndarray, ctx: LevelContext) -> np.ndarray:
    return pool[ctx.rng.integers(0, len(pool), ctx.n)]


def random_chars(rng: np.random.Generator, n: int, width: int, alphabet: np.ndarray) -> list[str]:
    return code_texts(random_codes(rng, n, width, alphabet))


def random_codes(rng: np.random.Generator, n: int, width: int, alphabet: np.ndarray) -> np.ndarray:
    """``n`` rows of ``width`` random ASCII codes from ``alphabet``."""
    return alphabet[rng.integers(0, len(alphabet), (n, width))]  # alphabets are uint8 already


def code_texts(codes: np.ndarray) -> list[str]:
    """Rows of ASCII codes as strings: one numpy conversion, no Python loop per value."""
    n, width = codes.shape
    if width == 0:
        return [""] * n
    flat = np.ascontiguousarray(codes, dtype=np.uint8)
    texts: list[str] = flat.view(f"S{width}").ravel().astype(f"U{width}").tolist()
    return texts


def obj(values: list[Any] | np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def cent_bounds(spec: FieldSpec, default: tuple[float, float] = (1.0, 500.0)) -> tuple[int, int]:
    low = spec.minimum if spec.minimum is not None else default[0]
    if spec.maximum is not None and spec.minimum is None:  # max only: below it, as int_bounds
        low = min(low, spec.maximum - (default[1] - default[0]))
    lo = math.ceil(round(low * 100, 6))
    hi = math.floor(
        round(
            (spec.maximum if spec.maximum is not None else max(default[1], lo / 100 + default[1]))
            * 100,
            6,
        )
    )
    return lo, hi


# --------------------------------------------------------------------------- primitives


@provider("int")
def _int(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    lo, hi = int_bounds(spec, (0, 1000))
    return ctx.rng.integers(lo, hi + 1, ctx.n, dtype=np.int64)


@provider("skewed_int")
def _skewed_int(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    """Mostly small counts with a long tail (votes, views): log-uniform within bounds."""
    lo, hi = int_bounds(spec, (0, 1000))
    raw = np.floor(np.exp(ctx.rng.uniform(0, math.log(hi - lo + 1), ctx.n))) - 1 + lo
    return np.clip(raw, lo, hi).astype(np.int64)


@provider("float")
def _float(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    lo = spec.minimum if spec.minimum is not None else min(0.0, (spec.maximum or 0.0) - 1000.0)
    hi = spec.maximum if spec.maximum is not None else lo + 1000.0
    raw = ctx.rng.uniform(lo, hi, ctx.n)
    with np.errstate(over="ignore", invalid="ignore"):  # past 1e306, * 100 is inf: raw kept
        rounded = np.round(raw, 2)
    # Two decimals read better, but never at the price of leaving [min, max].
    return np.where((rounded >= lo) & (rounded <= hi), rounded, raw)


@provider("money")
def _money(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    lo, hi = cent_bounds(spec)
    if lo > hi and spec.format != MONEY_FORMAT:
        # A plain FLOAT named like money, bounded between two cents (min=max=1.125): any float.
        return _float(spec, ctx, arg)
    cents = ctx.rng.integers(lo, hi + 1, ctx.n, dtype=np.int64)
    if spec.format == MONEY_FORMAT:
        return cents
    return cents / 100


@provider("tax_rate")
def _tax_rate(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    lo = spec.minimum if spec.minimum is not None else 0.0
    hi = spec.maximum if spec.maximum is not None else 1.0
    rates = np.array([r for r in TAX_RATES if lo <= r <= hi] or [lo])
    return rates[ctx.rng.integers(0, len(rates), ctx.n)]


@provider("choice")
def _choice(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    values = list(spec.choices)
    picked = np.array(values)[ctx.rng.integers(0, len(values), ctx.n)]
    if spec.is_money:
        return np.rint(picked.astype(np.float64) * 100).astype(np.int64)
    if spec.type is FieldType.INTEGER:
        return picked.astype(np.int64)
    if spec.type is FieldType.FLOAT:
        return picked.astype(np.float64)
    return obj(picked.tolist())


@provider("bool")
def _bool(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return ctx.rng.random(ctx.n) < (float(arg) if arg else 0.5)


@provider("enum")
def _enum(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    values = obj(list(spec.enum_values))
    if spec.enum_weights:
        weights = np.array(spec.enum_weights, dtype=np.float64)
        return values[ctx.rng.choice(len(values), ctx.n, p=weights / weights.sum())]
    return values[ctx.rng.integers(0, len(values), ctx.n)]


@provider("datetime")
def _datetime(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    lo, hi = time_bounds(spec)
    return ctx.rng.integers(lo, hi + 1, ctx.n).astype(np.float64)


@provider("date")
def _date(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    lo, hi = time_bounds(spec)
    first, last = -(-lo // 86400), hi // 86400
    if first > last:
        raise InvalidRequestError.single(spec.path, "no whole day lies between min and max")
    return (ctx.rng.integers(first, last + 1, ctx.n) * 86400).astype(np.float64)


@provider("uuid")
def _uuid(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    raw = ctx.rng.integers(0, 256, (ctx.n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hexes = raw.tobytes().hex()
    return obj(
        [
            f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
            for h in (hexes[i : i + 32] for i in range(0, ctx.n * 32, 32))
        ]
    )


@provider("pattern")
def _pattern(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return obj(fill_pattern(spec.format or "", ctx, years=record_years(ctx)))


def record_years(ctx: LevelContext) -> np.ndarray:
    created = ctx.siblings.get("created_at")
    if created is not None and created.dtype.kind == "f" and not np.isnan(created).any():
        return created.astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970
    return ctx.rng.integers(2024, 2026, ctx.n)


def fill_pattern(
    pattern: str, ctx: LevelContext, years: np.ndarray, unique_first: np.ndarray | None = None
) -> list[str]:
    """Values of an id pattern; ``unique_first`` (rows of codes) replaces the first random token.

    Every piece of an id has a fixed width (literal text, 4-digit years, tokens), so the values
    are built as one matrix of ASCII codes and converted at once, not joined value by value.
    """
    blocks: list[np.ndarray] = []
    pos = 0
    first = True
    n = ctx.n
    for match in ID_TOKEN.finditer(pattern):
        blocks.append(_literal_codes(pattern[pos : match.start()], n))
        kind, width = match.group(1), int(match.group(2) or 7)
        if kind == "year":
            blocks.append(_year_codes(years))
        elif first and unique_first is not None:
            blocks.append(unique_first)
            first = False
        else:
            alphabet = DIGITS if kind == "digits" else ALPHANUM
            blocks.append(random_codes(ctx.rng, n, width, alphabet))
        pos = match.end()
    blocks.append(_literal_codes(pattern[pos:], n))
    codes = np.hstack(blocks)
    if pattern.isascii():
        return code_texts(codes)
    # A caller's pattern may hold any text: its bytes are UTF-8, decoded value by value.
    width = codes.shape[1]
    rows: list[bytes] = np.ascontiguousarray(codes).view(f"S{width}").ravel().tolist()
    return [row.decode() for row in rows]


def _literal_codes(text: str, n: int) -> np.ndarray:
    codes = np.frombuffer(text.encode(), dtype=np.uint8)
    return np.broadcast_to(codes, (n, len(codes)))


def _year_codes(years: np.ndarray) -> np.ndarray:
    clipped = np.clip(years.astype(np.int64), 0, 9999)
    digits = np.empty((len(years), 4), dtype=np.uint8)
    for p in range(3, -1, -1):
        digits[:, p] = 48 + clipped % 10
        clipped //= 10
    return digits


@provider("regex")
def _regex(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    fullmatch = regexes.matcher(spec.regex or "")
    from tda.domain.regex_draws import drawer  # only a field with a regex draws from one

    draw, source = drawer(spec.regex or ""), ctx.pyrandom
    lo = spec.min_length or 0
    hi = spec.max_length if spec.max_length is not None else 10**9
    field = f"constraints.{spec.path}.regex"
    # A draw the check refuses costs a whole check (the drawing cannot see an assertion such
    # as \b): a batch spends four a value it makes at most, 200 at least, so that a value costs
    # a few checks, not up to 200. A pattern whose draws pass one time in five or less is refused.
    refusals_left = max(REGEX_ATTEMPTS, 4 * ctx.n)
    out = []
    for _ in range(ctx.n):
        for _attempt in range(REGEX_ATTEMPTS):
            value = draw(source)
            if not lo <= len(value) <= hi:
                continue
            if not fullmatch(value):
                refusals_left -= 1
                if refusals_left == 0:
                    raise InvalidRequestError.single(
                        field,
                        f"most values drawn from /{spec.regex}/ do not match it on RE2, which "
                        "checks them: an assertion such as \\b, which drawing cannot see, or "
                        "syntax Python's parser, which draws, reads otherwise ({,3}, [[:alpha:]])",
                    )
                continue
            if _type_ok(spec, value):
                out.append(value)
                break
        else:
            raise InvalidRequestError.single(
                field,
                f"could not produce a value matching /{spec.regex}/ within the length and type limits",
            )
    return obj(out)


def _type_ok(spec: FieldSpec, value: str) -> bool:
    if spec.type is FieldType.EMAIL:
        return EMAIL_RE.fullmatch(value) is not None
    if spec.type is FieldType.PHONE:
        return PHONE_RE.fullmatch(value) is not None
    return True


# --------------------------------------------------------------------------- people and places


def _person_rows(ctx: LevelContext) -> tuple[np.ndarray, np.ndarray]:
    """Pool rows of each row's first and last name: one draw per object level."""
    if "person" not in ctx.draws:
        pools = ctx.pools
        ctx.draws["person"] = (
            ctx.rng.integers(0, len(pools.first_names), ctx.n),
            ctx.rng.integers(0, len(pools.last_names), ctx.n),
        )
    rows: tuple[np.ndarray, np.ndarray] = ctx.draws["person"]
    return rows


def _person(ctx: LevelContext) -> tuple[np.ndarray, np.ndarray]:
    first, last = _person_rows(ctx)
    return ctx.pools.first_names[first], ctx.pools.last_names[last]


@provider("person.first_name")
def _first_name(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return _person(ctx)[0]


@provider("person.last_name")
def _last_name(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return _person(ctx)[1]


@provider("person.full_name")
def _full_name(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    first, last = _person(ctx)
    return obj([f"{a} {b}" for a, b in zip(first.tolist(), last.tolist(), strict=True)])


@provider("person.email")
def _email(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    """first.last@, flast42@ or first_last7@ a free-mail domain, from the record's own name."""
    first_rows, last_rows = _person_rows(ctx)
    firsts = ctx.pools.first_slugs[first_rows].tolist()
    lasts = ctx.pools.last_slugs[last_rows].tolist()
    domains = pick(ctx.pools.email_domains, ctx).tolist()
    numbers = ctx.rng.integers(1, 1000, ctx.n).tolist()
    styles = ctx.rng.integers(0, 3, ctx.n).tolist()
    return obj(
        [
            (
                f"{f or 'user'}.{la or 'mail'}@{d}"
                if style == 0
                else f"{(f or 'u')[0]}{la or 'mail'}{num}@{d}"
                if style == 1
                else f"{f or 'user'}_{la or 'mail'}{num % 100}@{d}"
            )
            for f, la, d, num, style in zip(firsts, lasts, domains, numbers, styles, strict=True)
        ]
    )


@provider("internet.username")
def _username(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    first, last = _person(ctx)
    numbers = ctx.rng.integers(1, 100, ctx.n).tolist()
    return obj(
        [
            f"{slug(f)[:1] or 'u'}{slug(la) or 'user'}{n}"
            for f, la, n in zip(first.tolist(), last.tolist(), numbers, strict=True)
        ]
    )


@provider("internet.url")
def _url(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    words = pick(ctx.pools.words, ctx).tolist()
    companies = pick(ctx.pools.companies, ctx).tolist()
    return obj(
        [
            f"https://www.{slug(c) or 'example'}.com/{slug(w) or 'home'}"
            for c, w in zip(companies, words, strict=True)
        ]
    )


@provider("company")
def _company(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return pick(ctx.pools.companies, ctx)


@provider("phone")
def _phone(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return pick(ctx.pools.phones, ctx)


@provider("currency")
def _currency(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return obj(["USD", "EUR", "GBP", "CAD"])[ctx.rng.integers(0, 4, ctx.n)]


def _address(ctx: LevelContext) -> np.ndarray:
    if "address" not in ctx.draws:
        ctx.draws["address"] = ctx.rng.integers(0, len(ctx.pools.streets), ctx.n)
    rows: np.ndarray = ctx.draws["address"]
    return rows


@provider("address.street")
def _street(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return ctx.pools.streets[_address(ctx)]


@provider("address.city")
def _city(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return ctx.pools.cities[_address(ctx)]


@provider("address.state")
def _state(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return ctx.pools.states[_address(ctx)]


@provider("address.postcode")
def _postcode(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return ctx.pools.postcodes[_address(ctx)]


@provider("address.country")
def _country(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return obj([ctx.pools.country] * ctx.n)


@provider("address.line")
def _address_line(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    rows = _address(ctx)
    p = ctx.pools
    parts = zip(
        p.streets[rows].tolist(),
        p.cities[rows].tolist(),
        p.states[rows].tolist(),
        p.postcodes[rows].tolist(),
        strict=True,
    )
    return obj([f"{s}, {c}, {st} {z}".replace(",  ", ", ").strip() for s, c, st, z in parts])


# --------------------------------------------------------------------------- text


@provider("text.words")
def _words(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    """Pool words cut to a length drawn within the bounds (the engine pads any short one)."""
    lo = spec.min_length if spec.min_length is not None else 5
    hi = spec.max_length if spec.max_length is not None else max(lo, 24)
    targets = ctx.rng.integers(lo, max(lo, hi) + 1, ctx.n).tolist()
    words = ctx.pools.words
    draws = words[ctx.rng.integers(0, len(words), (ctx.n, 12))].tolist()
    return obj([" ".join(row)[:t] for row, t in zip(draws, targets, strict=True)])


@provider("text.title")
def _title(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return obj([s.rstrip(".").title() for s in pick(ctx.pools.sentences, ctx).tolist()])


@provider("text.sentence")
def _sentence(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return pick(ctx.pools.sentences, ctx)


@provider("text.paragraph")
def _paragraph(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    pool = ctx.pools.sentences
    draws = pool[ctx.rng.integers(0, len(pool), (ctx.n, 3))].tolist()
    counts = ctx.rng.integers(1, 4, ctx.n).tolist()
    return obj([" ".join(row[:c]) for row, c in zip(draws, counts, strict=True)])


@cache
def review_phrases() -> dict[str, dict[str, list[str]]]:
    """The shipped review titles and body sentences, by kind and sentiment."""
    data: dict[str, dict[str, list[str]]] = load_data_file(DATA_DIR / "reviews.yaml")
    return data


def _sentiments(ctx: LevelContext) -> list[str]:
    rating = ctx.siblings.get("rating")
    if rating is None:
        return [
            ("negative", "neutral", "positive")[i] for i in ctx.rng.integers(0, 3, ctx.n).tolist()
        ]
    return ["negative" if r <= 2 else "neutral" if r == 3 else "positive" for r in rating.tolist()]


@provider("review.title")
def _review_title(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    bank = ctx.catalog.review_bank("titles") or review_phrases()["titles"]
    picks = ctx.rng.integers(0, 1 << 30, ctx.n).tolist()
    return obj([bank[s][p % len(bank[s])] for s, p in zip(_sentiments(ctx), picks, strict=True)])


@provider("review.body")
def _review_body(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    bank = ctx.catalog.review_bank("bodies") or review_phrases()["bodies"]
    picks = ctx.rng.integers(0, 1 << 30, (ctx.n, 2)).tolist()
    lengths = ctx.rng.integers(1, 3, ctx.n).tolist()
    out = []
    for s, (a, b), k in zip(_sentiments(ctx), picks, lengths, strict=True):
        lines = bank[s]
        first, second = lines[a % len(lines)], lines[b % len(lines)]
        out.append(first if k == 1 or first == second else f"{first} {second}")
    return obj(out)


# --------------------------------------------------------------------------- catalog


def _products(spec: FieldSpec, ctx: LevelContext) -> dict[str, np.ndarray]:
    """One product per row; rows of a basket draw from their record's occasion."""
    if "catalog" in ctx.draws:
        drawn: dict[str, np.ndarray] = ctx.draws["catalog"]
        return drawn
    catalog = ctx.catalog
    price_spec = ctx.draws.get("catalog_price_spec")
    eligible = _eligible_products(catalog, price_spec)
    by_occasion = [
        [i for i in eligible if catalog.products[i].occasion == o]
        for o in range(len(catalog.occasions))
    ]
    occasions = ctx.basket_occasions
    if occasions is None:
        live = np.array([o for o, ps in enumerate(by_occasion) if ps])
        occasions = live[ctx.rng.integers(0, len(live), ctx.n)]
    picks = ctx.rng.integers(0, 1 << 30, ctx.n)
    table = np.full((len(by_occasion), max(len(ps) for ps in by_occasion)), -1, dtype=np.int64)
    sizes = np.zeros(len(by_occasion), dtype=np.int64)
    for o, ps in enumerate(by_occasion):
        table[o, : len(ps)] = ps
        sizes[o] = len(ps)
    product = table[occasions, picks % np.maximum(sizes[occasions], 1)]
    drawn = {
        "product": product,
        "brand": ctx.rng.integers(0, 1 << 30, ctx.n),
        "color": ctx.rng.integers(0, len(catalog.colors), ctx.n),
        "size": ctx.rng.integers(0, 1 << 30, ctx.n),
        "price": ctx.rng.random(ctx.n),
    }
    ctx.draws["catalog"] = drawn
    return drawn


def _eligible_products(catalog: Catalog, price_spec: FieldSpec | None) -> list[int]:
    if price_spec is None:
        return list(range(len(catalog.products)))
    lo, hi = cent_bounds(price_spec, (0.01, 10**9))
    eligible = [
        i for i, p in enumerate(catalog.products) if p.min_cents <= hi and p.max_cents >= lo
    ]
    if not eligible:
        raise InvalidRequestError.single(
            f"constraints.{price_spec.path}", "no catalog product has a price within min..max"
        )
    return eligible


def occasions_for_baskets(ctx: LevelContext, price_spec: FieldSpec | None) -> np.ndarray:
    catalog = ctx.catalog
    eligible = set(_eligible_products(catalog, price_spec))
    live = np.array(sorted({catalog.products[i].occasion for i in eligible}))
    return live[ctx.rng.integers(0, len(live), ctx.n)]


def _product_attr(ctx: LevelContext, spec: FieldSpec, attr: str) -> np.ndarray:
    drawn = _products(spec, ctx)
    return ctx.catalog.variant_column(
        attr, drawn["product"], drawn["brand"], drawn["color"], drawn["size"]
    )


@provider("catalog.brand")
def _catalog_brand(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return _product_attr(ctx, spec, "brand")


@provider("catalog.category")
def _catalog_category(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return _product_attr(ctx, spec, "category")


@provider("catalog.name")
def _catalog_name(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return _product_attr(ctx, spec, "name")


@provider("catalog.sku")
def _catalog_sku(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return _product_attr(ctx, spec, "sku")


@provider("catalog.description")
def _catalog_description(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    return _product_attr(ctx, spec, "description")


@provider("catalog.price")
def _catalog_price(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    drawn = _products(spec, ctx)
    products = ctx.catalog.products
    lo_bound, hi_bound = cent_bounds(spec, (0.01, 10**9))
    lo = np.array([max(products[p].min_cents, lo_bound) for p in range(len(products))])[
        drawn["product"]
    ]
    hi = np.array([min(products[p].max_cents, hi_bound) for p in range(len(products))])[
        drawn["product"]
    ]
    dollars = np.floor((lo + (hi - lo) * drawn["price"]) / 100)
    cents = (dollars * 100 + 99).astype(np.int64)
    # Shelf prices end in .99; where that leaves the allowed range, take the exact draw.
    exact = (lo + np.floor((hi - lo + 1) * drawn["price"])).astype(np.int64)
    cents = np.where((cents >= lo) & (cents <= hi), cents, np.minimum(exact, hi))
    return cents if spec.is_money else cents / 100


@provider("entity_id")
def _entity_id(spec: FieldSpec, ctx: LevelContext, arg: str) -> np.ndarray:
    prefix = re.sub(r"[^A-Z]", "", spec.name.upper().removesuffix("_ID"))[:3] or "ID"
    return obj([f"{prefix}-{s}" for s in random_chars(ctx.rng, ctx.n, 8, ALPHANUM)])
