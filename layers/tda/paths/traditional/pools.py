"""Value pools per locale: names, addresses, phones, words, sentences.

Sampling a pool with numpy is 10-100x cheaper than calling Faker per value (Faker's weighted
tables are its main cost). 19 common locales ship as data files (each read in ≈2 ms, where a
build takes 0.15-1.6 s); the others are built from Faker with a fixed seed, to the same values
a shipped file holds (``scripts/build_pools.py`` writes them), and kept behind the cache port
when the wiring gives one (``keep_built_pools_with``): the processes after read them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from tda.domain.errors import InvalidRequestError, shown
from tda.domain.text import slug
from tda.domain.validation import is_phone
from tda.ports.cache import Cache

POOL_DIR = Path(__file__).resolve().parents[2] / "data" / "pools"
POOL_SEED = 20240101
POOL_SIZES = {"names": 1500, "addresses": 2500, "phones": 2500, "companies": 400, "sentences": 800}


@dataclass(frozen=True)
class Pools:
    """A locale's value pools (names, streets, cities...), drawn from by index."""

    locale: str
    first_names: np.ndarray
    last_names: np.ndarray
    streets: np.ndarray
    cities: np.ndarray
    states: np.ndarray
    postcodes: np.ndarray
    country: str
    phones: np.ndarray
    email_domains: np.ndarray
    companies: np.ndarray
    words: np.ndarray
    sentences: np.ndarray

    @cached_property
    def first_slugs(self) -> np.ndarray:
        """ASCII slugs of ``first_names`` (for emails), computed once per pool."""
        return _slugs(self.first_names)

    @cached_property
    def last_slugs(self) -> np.ndarray:
        return _slugs(self.last_names)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pools:
        def arr(key: str) -> np.ndarray:
            return np.array(data[key], dtype=object)

        addresses = data["addresses"]
        return cls(
            locale=data["locale"],
            first_names=arr("first_names"),
            last_names=arr("last_names"),
            streets=np.array([a[0] for a in addresses], dtype=object),
            cities=np.array([a[1] for a in addresses], dtype=object),
            states=np.array([a[2] for a in addresses], dtype=object),
            postcodes=np.array([a[3] for a in addresses], dtype=object),
            country=data["country"],
            phones=arr("phones"),
            email_domains=arr("email_domains"),
            companies=arr("companies"),
            words=arr("words"),
            sentences=arr("sentences"),
        )


def _slugs(names: np.ndarray) -> np.ndarray:

    out = np.empty(len(names), dtype=object)
    out[:] = [slug(str(name)) for name in names.tolist()]
    return out


# Faker's locales, as its ``faker.config.AVAILABLE_LOCALES`` lists them (written by
# ``scripts/build_pools.py``, checked against Faker by the tests): importing that took 0.2 s,
# most of a run in a locale whose pools are kept.
FAKER_LOCALES = POOL_DIR / "faker_locales.txt"


@cache
def supported_locales() -> list[str]:
    return FAKER_LOCALES.read_text(encoding="utf-8").split()


# What a locale looks like (Faker's: en, en_US, fil_PH): nothing else is looked up as a file
# name (a 300-character one was a 500, "File name too long"; a path must never be one).
LOCALE_SHAPE = re.compile(r"[A-Za-z]{2,3}([_-][A-Za-z]{2})?", re.ASCII)


def check_locale(locale: str, field: str = "locale") -> str:
    """The locale, normalised (``en-us`` → ``en_US``); an error naming ``field`` if unknown."""
    if LOCALE_SHAPE.fullmatch(locale):
        parts = locale.replace("-", "_").split("_")
        normal = parts[0].lower() + ("_" + parts[1].upper() if len(parts) > 1 else "")
        if _is_known_locale(normal):
            return normal
    raise InvalidRequestError.single(
        field, f"unknown locale {shown(locale)} (e.g. en_US, de_DE, fr_FR, ja_JP)"
    )


@lru_cache(maxsize=128)  # every request asks; the answer never changes while running
def _is_known_locale(normal: str) -> bool:
    return normal in _shipped() or normal in supported_locales()


# CPU a locale's pools take to build from Faker (measured here: 0.15 s median over Faker's 110
# locales, 0.85 s at most), rounded up: what a server admits a request in a locale not yet
# built by (``tda.app.operations.placement``), since the build is part of its answer.
LOCALE_BUILD_SECONDS = 1.0

_built: dict[str, Pools] = {}
# One lock a locale (a checked locale: Faker's 110 at most), so a build holds up no request in
# another locale, and two requests in a new one build it once.
_building: dict[str, threading.Lock] = {}
_building_lock = threading.Lock()


@cache
def _shipped() -> frozenset[str]:
    return frozenset(path.stem for path in POOL_DIR.glob("*.json"))


def pools_ready(locale: str) -> bool:
    """Whether ``locale``'s pools cost nothing to have: built in this process already, or
    shipped as a file (read in milliseconds)."""
    return locale in _built or locale in _shipped()


def pools_for(locale: str) -> Pools:
    found = _built.get(locale)
    if found is not None:
        return found
    with _building_lock:
        building = _building.setdefault(locale, threading.Lock())
    with building:
        found = _built.get(locale)
        if found is None:
            shipped = POOL_DIR / f"{locale}.json"
            if locale in _shipped():
                found = Pools.from_dict(orjson.loads(shipped.read_bytes()))
            else:
                found = _kept_or_built(locale)
            _built[locale] = found
        return found


# Where pools built from Faker are kept for the processes after this one (the wiring sets the
# cache port: a file under TDA_HOME/cache, Redis, or S3 in AWS); None keeps them in this
# process only. A kept pool is never a reason to fail: unreadable or broken, it is built again.
_keeping: Callable[[], Cache] | None = None
KEPT_SECONDS = 30 * 86400


def keep_built_pools_with(cache: Callable[[], Cache] | None) -> None:
    """Keep the pools built from Faker behind ``cache()`` (made at the first build, so a run
    in a shipped locale makes no cache), or in this process only (None)."""
    global _keeping
    _keeping = cache


def _kept_or_built(locale: str) -> Pools:
    """The locale's pools as a process before kept them, or built from Faker and kept."""
    key, cache = _kept_key(locale), None
    if key is not None and _keeping is not None:
        with contextlib.suppress(Exception):  # no cache to be had: built, as before
            cache = _keeping()
    if cache is not None and key is not None:
        try:
            raw = cache.get(key)
            data = orjson.loads(raw) if raw is not None else None
            if data and data.get("locale") == locale:
                return Pools.from_dict(data)
        except Exception:  # a broken or unreadable entry: built again
            pass
    data = build_pool_data(locale)
    if cache is not None and key is not None:
        with contextlib.suppress(Exception):  # kept or not, this request has its pools
            cache.put(key, orjson.dumps(data), KEPT_SECONDS)
    return Pools.from_dict(data)


def _kept_key(locale: str) -> str | None:
    prefix = _kept_prefix()
    return None if prefix is None else f"{prefix}/{locale}.json"


@cache
def _kept_prefix() -> str | None:
    """What a kept pool is read by: the Faker that built it (its version, from its
    distribution's folder name: importing Faker is 0.2 s) and this module's code, which draws
    the pools. None when either cannot be told: nothing is kept then."""
    import hashlib  # here: a handler's start imports no OpenSSL (tests/surfaces/test_handlers)

    try:
        spec = importlib.util.find_spec("faker")
        if spec is None or spec.origin is None:
            return None
        packages = Path(spec.origin).parents[1]
        versions = [
            name[len("faker-") : -len(".dist-info")]
            for name in os.listdir(packages)
            if name.lower().startswith("faker-") and name.endswith(".dist-info")
        ]
        code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    except (OSError, ValueError):
        return None
    if len(versions) != 1:
        return None
    return f"pools/faker-{versions[0]}-{code}"


# Faker's lists made from a set, in the order of the process's string hashes (PYTHONHASHSEED):
# every draw from one differed from process to process, so ``--seed 7 --locale it_IT`` gave
# other cities in each run. Sorted before drawing. Found by building all of Faker's locales
# under two hash seeds (``scripts/build_pools.py --check``): only these.
_SET_ORDERED = {"faker.providers.address.it_IT": ("cities",)}


def build_pool_data(locale: str) -> dict[str, Any]:
    """Draw the pools from Faker (used at run time for non-shipped locales, and by scripts/)."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(POOL_SEED)
    for provider in fake.providers:
        for name in _SET_ORDERED.get(type(provider).__module__, ()):
            setattr(provider, name, sorted(getattr(provider, name)))

    def unique(draw: Any, size: int) -> list[str]:
        seen: dict[str, None] = {}
        for _ in range(size * 3):
            seen.setdefault(str(draw()), None)
            if len(seen) >= size:
                break
        return list(seen)

    def state() -> str:
        for method in ("state_abbr", "administrative_unit", "region", "prefecture", "province"):
            if hasattr(fake, method):
                return str(getattr(fake, method)())
        return ""

    addresses = []
    for _ in range(POOL_SIZES["addresses"]):
        street = fake.street_address().replace("\n", ", ")
        addresses.append([street, fake.city(), state(), fake.postcode()])
    try:
        country = fake.current_country()
    except (AttributeError, ValueError):
        country = locale.split("_")[-1]
    return {
        "locale": locale,
        "first_names": unique(fake.first_name, POOL_SIZES["names"]),
        "last_names": unique(fake.last_name, POOL_SIZES["names"]),
        "addresses": addresses,
        "country": country,
        "phones": _phones(fake, unique),
        "email_domains": unique(fake.free_email_domain, 12),
        "companies": unique(fake.company, POOL_SIZES["companies"]),
        "words": unique(fake.word, 400),
        "sentences": unique(fake.sentence, POOL_SIZES["sentences"]),
    }


# The characters a phone number keeps: Faker's locales also write '/', letters ('ext'), and
# their own digits (Bengali, Arabic-Indic), which PHONE fields do not take.
_PHONE_KEEP = frozenset("+0123456789()-. ")
_FALLBACK_PHONE = "+## ### ### ####"


def _phones(fake: Any, unique: Any) -> list[str]:
    """The locale's phone numbers made valid for PHONE fields by construction: each normalised
    (digits to ASCII, '/' to a space, the rest dropped) and kept only if the validator takes
    it. A locale whose numbers are too short (ar_JO '1461') or that has none (en_PH) gets
    numbers of the international form instead."""
    draw = getattr(fake, "phone_number", None)

    def normalised() -> str:
        raw = draw().split("x")[0] if draw is not None else ""
        text = "".join(_ascii_digit(c) for c in raw.replace("/", " "))
        return " ".join("".join(c for c in text if c in _PHONE_KEEP).split())

    phones = [p for p in unique(normalised, POOL_SIZES["phones"]) if is_phone(p)]
    if len(phones) < POOL_SIZES["phones"] // 10:
        phones = unique(lambda: fake.numerify(_FALLBACK_PHONE), POOL_SIZES["phones"])
    return phones


def _ascii_digit(c: str) -> str:
    return str(unicodedata.digit(c)) if c.isdigit() and not c.isascii() else c
