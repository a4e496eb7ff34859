"""Every limit that protects the service: refused up front, field by field, or served within it.

Each case here once froze a server or crashed it (issue: reliability of what is built): a
140-byte request padding strings quadratically, a regex repeat above rstr's cap, a hostile
regex backtracking on an override, nested arrays multiplying into a billion values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any

import pytest

from tda.app.service import generate
from tda.domain.errors import InvalidRequestError
from tda.domain.limits import MAX_STRING_LENGTH

from ..conftest import generate_records, make_request


def refusal(**fields: Any) -> dict[str, str]:
    """GIVEN a request WHEN generated THEN refused: its issues, field → messages."""
    with pytest.raises(InvalidRequestError) as caught:
        generate(make_request(**fields))
    issues: dict[str, str] = {}
    for issue in caught.value.issues:
        issues[issue.field] = f"{issues.get(issue.field, '')} {issue.message}".strip()
    return issues


def constrained(field: str, **constraint: Any) -> dict[str, Any]:
    return {"field_constraints": {field: constraint}}


def test_a_string_length_above_the_limit_is_refused_naming_the_constraint() -> None:
    issues = refusal(
        entity="user", count=10, constraints=constrained("first_name", min_length=2_000_000)
    )
    assert "constraints.first_name.min_length" in issues
    assert str(MAX_STRING_LENGTH) in issues["constraints.first_name.min_length"]


def test_strings_as_long_as_the_limit_allows_are_made_and_valid() -> None:
    records = generate_records(
        entity="user",
        count=40,
        constraints=constrained("first_name", min_length=MAX_STRING_LENGTH),
    )
    assert all(len(r["first_name"]) >= MAX_STRING_LENGTH for r in records)
    assert all(len(r["first_name"]) <= MAX_STRING_LENGTH + 200 for r in records)


@pytest.mark.parametrize("pattern", [r"\d{150}", r"[A-Z]{2}\d{101,120}", r"(ab|cd){300}"])
def test_regex_repeats_above_one_hundred_are_generated(pattern: str) -> None:
    import re

    records = generate_records(
        entity="user", count=20, constraints=constrained("first_name", regex=pattern)
    )
    assert all(re.fullmatch(pattern, r["first_name"]) for r in records)


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        (r".{1000000}", "not supported"),
        (r"(a)\1", "no backreferences"),
        (r"(?=a)a", "no lookahead"),
        (r"(.*){200}", "can match"),
        ("a" * 1001, "limit is 1000"),
        ("(" * 30 + "a" + ")" * 30, "nests"),
    ],
)
def test_regexes_that_cannot_be_bounded_are_refused(pattern: str, says: str) -> None:
    issues = refusal(entity="user", count=1, constraints=constrained("first_name", regex=pattern))
    assert says in issues["constraints.first_name.regex"]


def test_an_override_against_a_catastrophic_regex_is_answered_at_once() -> None:
    # Python's engine needs ~2^40 steps to refuse this override (17 s at 28 characters, x4 per
    # 2 more); RE2 is linear. Run with a deadline so a regression fails instead of hanging.
    answer: dict[str, Any] = {}

    def ask() -> None:
        answer["issues"] = refusal(
            entity="user",
            count=1,
            constraints=constrained("first_name", regex=r"(a+)+$"),
            scenarios=[{"name": "x", "count": 1, "overrides": {"first_name": "a" * 40 + "!"}}],
        )

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the override check is still backtracking"
    assert "must match" in answer["issues"]["scenarios[0].overrides.first_name"]


def test_arrays_multiplying_through_nesting_are_refused() -> None:
    nested = {
        "fields": [
            {"name": "grid", "type": "ARRAY", "nested_fields": [
                {"name": "item", "type": "ARRAY", "nested_fields": [{"name": "item", "type": "STRING"}]}
            ]}
        ]
    }  # fmt: skip
    issues = refusal(
        schema=nested,
        count=1,
        constraints={
            "field_constraints": {"grid": {"max_length": 1000}, "grid[]": {"max_length": 1000}}
        },
    )
    assert "1,000,000 values" in issues["schema.grid"]


def test_a_response_too_large_to_send_is_refused_before_any_work() -> None:
    wide = {"fields": [{"name": f"f{i}", "type": "STRING"} for i in range(40)]}
    lengths = {f"f{i}": {"min_length": 9000} for i in range(40)}
    issues = refusal(schema=wide, count=1000, constraints={"field_constraints": lengths})
    assert "of output; the limit is 32.0 MiB" in issues["count"]
    assert "GenerateDataStream" in issues["count"]


def test_regex_characters_have_a_budget_per_request() -> None:
    issues = refusal(
        entity="user",
        count=1000,
        constraints=constrained("first_name", regex=r"[a-z]{1000}\d{1000}x{999}"),
    )
    assert "characters from regexes" in issues["count"]


def test_an_override_matching_the_regex_is_kept() -> None:
    records = generate_records(
        entity="user",
        count=3,
        constraints=constrained("first_name", regex=r"(a+)+$"),
        scenarios=[{"name": "x", "count": 3, "overrides": {"first_name": "aaaa"}}],
    )
    assert [r["first_name"] for r in records] == ["aaaa"] * 3


def test_a_negated_class_draws_the_same_values_in_every_process() -> None:
    # rstr iterated a set of characters, whose order follows the per-process string hash.
    script = (
        "from tda.domain.contract import GenerateRequest; from tda.app.service import generate; "
        "print(generate(GenerateRequest.model_validate({'entity': 'user', 'count': 5, 'seed': 3, "
        "'constraints': {'field_constraints': {'first_name': {'regex': '[^a-z]{30}'}}}})).data)"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in (1, 2, 3)
    }
    assert len(outputs) == 1
    assert len(json.loads(outputs.pop())) == 5


def test_memory_stays_flat_over_many_distinct_caller_schemas() -> None:
    # Compiled validators, rules and templates are cached per schema; a long-lived server
    # once kept every schema it ever saw (4,000 schemas: +134 MB, never released).
    # Measured in a process of its own: a server or job that an earlier test of the same
    # worker left running allocates on its own threads meanwhile (7.8 MB seen once in CI).
    script = """
import gc, tracemalloc
from tda import wiring
from tda.app.service import generate
from tda.domain.contract import GenerateRequest
wiring.install()
rounds = 260  # past every per-schema cache's bound (256)
def run(first):
    for n in range(first, first + rounds):
        fields = [{"name": f"s{n}_f{i}", "type": "STRING"} for i in range(20)]
        generate(GenerateRequest.model_validate({"schema": {"fields": fields}, "count": 1, "seed": 1234}))
run(0)
tracemalloc.start()  # frees of what was made before are not seen: turn the caches over once
run(rounds)
gc.collect()  # compiled functions and their namespaces are cycles
settled = tracemalloc.get_traced_memory()[0]
run(2 * rounds)
gc.collect()
print(tracemalloc.get_traced_memory()[0] - settled)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    grown = int(done.stdout)
    assert grown < 1_000_000, f"{grown:,} bytes kept after 260 more schemas"


@pytest.mark.parametrize(
    ("pattern", "places"),
    [
        ("[a-z]{1000}", 1),  # one place at every offset: RE2's DFA, or its NFA, steps one
        (r"(\d{3}-){2}\d{4}", 1),
        (r"[A-Z][a-z]{2,5}-\d{2}", 4),  # after 'Abc': the 3rd to 5th letter, or the '-'
        (r"[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}", 8),
        ("(?:a?){1000}(?:b?){1000}", 2000),  # at offset 0 every one of them
    ],
)
def test_the_places_a_match_can_be_at_once_bound_a_checks_steps(pattern: str, places: int) -> None:
    from tda.domain.regexes import check, match_width_of

    check(pattern, MAX_STRING_LENGTH)
    assert match_width_of(pattern) == places


def test_values_too_costly_to_check_against_their_regex_are_refused_before_any_work() -> None:
    # 2000 places a character, 2000 characters a value: RE2's NFA took 21 ms a value, 1000
    # values 55 s of a worker, where the characters drawn estimated 3 s. Ten are served.
    costly = constrained("first_name", regex="(?:a?){1000}(?:b?){1000}")
    issues = refusal(entity="user", count=1000, constraints=costly)
    assert "4,000,000,000 steps" in issues["count"] and "a job" in issues["count"]
    records = generate_records(entity="user", count=10, constraints=costly)
    assert len(records) == 10
