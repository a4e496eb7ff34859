"""Requests a hostile caller sends, in one place for the tests that refuse or serve them and
for ``bench/bench_hostile.py``, which sends them all at once. Importing this starts nothing."""

from __future__ import annotations

from typing import Any


def on(field: str, **constraint: Any) -> dict[str, Any]:
    return {"field_constraints": {field: constraint}}


NESTED_ARRAYS = {
    "fields": [
        {"name": "grid", "type": "ARRAY", "nested_fields": [
            {"name": "item", "type": "ARRAY", "nested_fields": [{"name": "item", "type": "STRING"}]}
        ]}
    ]
}  # fmt: skip
WIDE = {"fields": [{"name": f"f{i}", "type": "STRING"} for i in range(40)]}
DEEP: dict[str, Any] = {"name": "leaf", "type": "STRING"}
for _level in range(8):
    DEEP = {"name": f"level{_level}", "type": "OBJECT", "nested_fields": [DEEP]}

ONE_OF_EACH = {"fields": [{"name": "n", "type": "INTEGER"}, {"name": "m", "type": "FLOAT"},
                          {"name": "x", "type": "FLOAT"}, {"name": "t", "type": "DATETIME"},
                          {"name": "s", "type": "STRING"}]}  # fmt: skip

# (case, request body, the field the answer must name)
HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("string of 10^7 characters", {"entity": "user", "count": 1,
     "constraints": on("first_name", min_length=10_000_000)}, "constraints.first_name.min_length"),
    ("padding 2,000,000 x 10", {"entity": "user", "count": 10,
     "constraints": on("first_name", min_length=2_000_000)}, "constraints.first_name.min_length"),
    ("catastrophic regex on an override", {"entity": "user", "count": 1,
     "constraints": on("first_name", regex="(a+)+$"),
     "scenarios": [{"name": "x", "count": 1, "overrides": {"first_name": "a" * 5000 + "!"}}]},
     "scenarios[0].overrides.first_name"),
    ("repeat of a million", {"entity": "user", "count": 1,
     "constraints": on("first_name", regex=".{1000000}")}, "constraints.first_name.regex"),
    ("backreference", {"entity": "user", "count": 1,
     "constraints": on("first_name", regex="(a)\\1")}, "constraints.first_name.regex"),
    ("arrays multiplying to a million values", {"schema": NESTED_ARRAYS, "count": 1,
     "constraints": {"field_constraints": {"grid": {"max_length": 1000},
                                           "grid[]": {"max_length": 1000}}}}, "schema.grid"),
    ("a response of 350 MB", {"schema": WIDE, "count": 1000, "constraints": {
     "field_constraints": {f"f{i}": {"min_length": 9000} for i in range(40)}}}, "count"),
    ("nesting of 9 levels", {"schema": {"fields": [DEEP]}, "count": 1},
     "schema.fields[0]" + ".nested_fields[0]" * 6),
    ("count above the sync limit", {"entity": "cart", "count": 5000}, "count"),
    ("600 bad field names (more errors than gRPC metadata holds)", {"schema": {"fields": [
     {"name": f"{i}x", "type": "STRING"} for i in range(600)]}, "count": 1}, "schema.fields[0].name"),
    # Numbers past what the engine's columns hold: each was an OverflowError, an HTTP 500.
    ("a money override past any float", {"entity": "cart", "count": 1, "scenarios": [
     {"name": "x", "count": 1, "overrides": {"total": "1e400"}}]}, "scenarios[0].overrides.total"),
    ("a money override past 64-bit cents", {"entity": "cart", "count": 1, "scenarios": [
     {"name": "x", "count": 1, "overrides": {"items.price": "9" * 17}}]},
     "scenarios[0].overrides.items.price"),
    ("an integer bound of 10^30", {"schema": ONE_OF_EACH, "count": 1,
     "constraints": on("n", max=1e30)}, "constraints.n.max"),
    ("a money bound of 10^20", {"schema": ONE_OF_EACH, "count": 1,
     "constraints": on("m", min=0, max=1e20, format="money")}, "constraints.m.max"),
    ("float bounds further apart than any float", {"schema": ONE_OF_EACH, "count": 1,
     "constraints": on("x", min=-1e308, max=1e308)}, "constraints.x.max"),
    ("a date bound in year 116,819,978", {"schema": ONE_OF_EACH, "count": 1,
     "constraints": on("t", min=1e15)}, "constraints.t.min"),
    # Id patterns: 1 GB for 1,000 records (20 s of a worker), numpy refusing a 20-digit width,
    # a StopIteration, a length min_length refuses: each an HTTP 500 or a freeze.
    ("an id pattern of a million characters", {"schema": ONE_OF_EACH, "count": 1000,
     "constraints": on("s", format="X-{random:1000000}")}, "constraints.s.format"),
    ("an id pattern 20 digits wide", {"schema": ONE_OF_EACH, "count": 1,
     "constraints": on("s", format="{digits:99999999999999999999}")}, "constraints.s.format"),
    ("an id pattern shorter than its min_length", {"schema": ONE_OF_EACH, "count": 1,
     "constraints": on("s", format="{random:3}", min_length=50)}, "constraints.s.format"),
    ("a unique id made of {year} alone", {"entity": "cart", "count": 2,
     "constraints": on("cart_id", format="X{year}")}, "constraints.cart_id.format"),
    ("an override of a million characters (1 GB for 1,000 records)", {"entity": "user",
     "count": 1000, "scenarios": [{"name": "x", "count": 1000,
                                   "overrides": {"first_name": "x" * 1_000_000}}]},
     "scenarios[0].overrides.first_name"),
    # A format read back by strptime once written: 4 s of work, then the regex module's crash.
    ("a date format of 200,000 characters", {"schema": ONE_OF_EACH, "count": 1,
     "constraints": on("t", format="%Y" * 100_000)}, "constraints.t.format"),
    ("an override in year 10000 once in UTC", {"entity": "cart", "count": 1, "scenarios": [
     {"name": "x", "count": 1, "overrides": {"created_at": "9999-12-31T23:59:59-14:00"}}]},
     "scenarios[0].overrides.created_at"),
    # RE2's DFA gives out on it and its NFA steps 2000 places a character: estimated at 3 s by
    # the characters drawn, 1000 values took 55 s of a worker.
    ("a regex checked 2000 places a character", {"entity": "user", "count": 1000,
     "constraints": on("first_name", regex="(?:a?){1000}(?:b?){1000}")}, "count"),
    # ...and 400 overrides checked against it while the request is planned: 29 s (sent on both
    # transports at once) of the pool that plans requests, ≈0.1 s each; a body under 1 MiB.
    # Five are checked, the sixth named.
    ("400 overrides checked 2000 places a character", {"entity": "user", "count": 400,
     "constraints": on("first_name", regex="(?:a?){1000}(?:b?){1000}"),
     "scenarios": [{"name": f"s{i}", "count": 1, "overrides": {"first_name": "a" * 1999 + "c"}}
                   for i in range(400)]}, "scenarios[5].overrides.first_name"),
]  # fmt: skip

# The costliest regex to draw from that is cheap to check (one place a match can be at a
# character, ``regexes.match_width_of``): two branches a repeat, ≈0.5 µs a character here
# (``bench/bench_regex.py``). 1000 values, the synchronous limit of 2,000,000 characters, are
# ≈1 s of work, estimated ≈3 s.
COSTLY_REGEX = "(?:(a|b)(c|d)){1000}"


def heavy_users(count: int) -> dict[str, Any]:
    """``count`` users whose first names are drawn from ``COSTLY_REGEX``."""
    return {"entity": "user", "count": count, "constraints": on("first_name", regex=COSTLY_REGEX)}


# Valid, and as heavy as a synchronous request may be: served, while /health still answers.
HEAVY_VALID: list[tuple[str, dict[str, Any]]] = [
    ("1000 users with 10,000-character names", {"entity": "user", "count": 1000,
     "constraints": on("first_name", min_length=10_000)}),
    ("1000 users from the costliest regex", heavy_users(1000)),
]  # fmt: skip


# 1000 records of three 10,000-character strings: a 30 MB answer made in ≈0.4 s.
LARGE_ANSWER = {
    "entity": "blob",
    "count": 1000,
    "schema": {"fields": [{"name": f"s{i}", "type": "STRING"} for i in range(3)]},
    "constraints": {
        "field_constraints": {
            f"s{i}": {"min_length": 10_000, "max_length": 10_000} for i in range(3)
        }
    },
}
