"""What a warm process keeps of the requests it has answered: its caches may grow with the
shapes it has seen, never with the values it made."""

from __future__ import annotations

import ctypes
import gc
import random
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from tda_local.lambdas import invoke


def long(*fields: str) -> dict[str, Any]:
    """Constraints making ``fields`` 10,000 characters each: values no two records share."""
    return {"field_constraints": {f: {"min_length": 10_000, "max_length": 10_000} for f in fields}}


# ≈20 MB of values a request, each checked by a rule that works something out of it: a user's
# email against its names, a product's SKU against its brand, a cart's items' occasions.
LONG_VALUES = {
    "users' names": {"entity": "user", "count": 1000, "constraints": long("first_name", "last_name")},
    "products' brands and names": {"entity": "product", "count": 500,
                                   "constraints": long("name", "brand", "category")},
    "cart items' names": {"entity": "cart", "count": 200,
                          "constraints": long("items.name", "items.category")},
}  # fmt: skip


def retained_after(requests: int, body: dict[str, Any]) -> int:
    """Bytes still allocated once ``requests`` more of ``body`` have been answered and dropped."""
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(requests):
        answer = invoke("router", {"request": body})
        assert answer["record_count"] == body["count"]
        del answer
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - before


@pytest.mark.parametrize("body", LONG_VALUES.values(), ids=LONG_VALUES.keys())
def test_values_made_for_a_request_are_not_kept_after_it(body: dict[str, Any]) -> None:
    # Before, what rules work out of a value was cached by the value: a name's slug (65,536
    # kept), a brand's code (4096), an item's occasions (8192). Three requests above left
    # 112 MB (users), 15 MB (products), 37 MB (carts); a few dozen of the first held a GB in
    # every process until it restarted.
    invoke("router", {"request": body})  # the shape's compiled rules, layout, validators
    tracemalloc.start()
    try:
        kept = retained_after(3, body)
    finally:
        tracemalloc.stop()
    assert kept < 2 << 20, f"{kept / 1e6:.1f} MB kept after three requests"


def wide_records(shape: int) -> dict[str, Any]:
    """10 records of 100 fields of 10,000 characters: a MiB each, a schema of its own."""
    names = [f"s{shape}_{i}" for i in range(100)]
    return {
        "entity": "blob",
        "count": 10,
        "schema": {"fields": [{"name": name, "type": "STRING"} for name in names]},
        "constraints": long(*names),
    }


def many_values(shape: int) -> dict[str, Any]:
    """5 records of a schema whose one field has a MiB of enum values, its own."""
    values = [f"value-{shape}-{i:06d}-" + "x" * 30 for i in range(20_000)]
    return {
        "entity": "blob",
        "count": 5,
        "schema": {"fields": [{"name": "kind", "type": "ENUM"}]},
        "constraints": {"field_constraints": {"kind": {"enum_values": values}}},
    }


def retained_over_shapes(shapes: int, body: Callable[[int], dict[str, Any]]) -> int:
    invoke("router", {"request": body(0)})
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for shape in range(1, shapes + 1):
            answer = invoke("router", {"request": body(shape)})
            assert answer["record_count"] == body(shape)["count"]
            del answer
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_few_records_of_a_mib_each_are_made_for_their_request_alone() -> None:
    # Before: a small unseeded request is cut from a warm slab of up to 256 records, whatever
    # their size: 10 records of a MiB were made 64 at a time and the slab kept, 64 MB for each
    # schema (three: 194 MB; 32 kept warm: 2 GB), for 10 MB of answer.
    kept = retained_over_shapes(3, wide_records)
    assert kept < 4 << 20, f"{kept / 1e6:.1f} MB kept after three schemas"


def test_what_is_worked_out_from_large_schemas_is_kept_within_a_bound() -> None:
    # Before: compiled validators, layouts and rules were cached by count alone (256 schemas
    # and more): each schema of a MiB of enum values sent once left ≈4 MB (twenty: 83 MB;
    # 256 of them: over a GB). Now each cache keeps its keys to MAX_CACHED_CHARS.
    kept = retained_over_shapes(20, many_values)
    assert kept < 16 << 20, f"{kept / 1e6:.1f} MB kept after twenty schemas"


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]  # fmt: skip


def malloc_in_use() -> int:
    """Bytes glibc's malloc has handed out and not had back: native memory included (RE2's),
    which tracemalloc does not see, and none of what RSS keeps after a free."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        pytest.skip("needs glibc 2.33 or later")
    gc.collect()
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def with_regex(shape: int) -> dict[str, Any]:
    """5 users whose first names match a 1000-character regex of their own: ninety 8-letter
    words, repeated 1 to 9 times."""
    draw = random.Random(shape)
    words = "|".join("".join(draw.choice("abcdefgh") for _ in range(8)) for _ in range(90))
    return {
        "entity": "user",
        "count": 5,
        "constraints": {"field_constraints": {"first_name": {"regex": f"({words}){{1,9}}"}}},
    }


def test_compiled_regexes_are_not_all_kept() -> None:
    # Before: RE2 compiles a pattern to native memory (≈0.3 MB for these), which the matcher
    # cache kept for 1024 patterns and the re2 module for its last 128, besides what each
    # schema's compiled validators and generators held: every 40 new patterns left 21 MB.
    for shape in range(40):
        invoke("router", {"request": with_regex(shape)})
    before = malloc_in_use()
    for shape in range(40, 80):
        invoke("router", {"request": with_regex(shape)})
    kept = malloc_in_use() - before
    assert kept < 4 << 20, f"{kept / 1e6:.1f} MB kept by forty more patterns"
