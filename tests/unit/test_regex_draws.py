"""Values drawn from a caller's regex: the same values rstr drew from the same seed (so a seed's
records did not change when the walk was compiled away), each one matching, at a cost of one
random draw per choice the pattern makes."""

from __future__ import annotations

import random
import sys
import warnings
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
import rstr

from tda.domain import regexes
from tda.domain.errors import InvalidRequestError
from tda.domain.regex_draws import drawer

from ..conftest import generate_records

# Within rstr's own repeat bound (100), with no ``\s``, no negated class and no single letter
# repeated, rstr's plain ``xeger`` draws what the drawer draws: the same random numbers, in the
# same order. (A letter repeated, ``z+``, costs a draw a repeat here, as it did in the
# generator before this one, and none in rstr's.)
AS_RSTR = [
    r"[A-Z][a-z]{2,5}-\d{2}",
    "(ab|cd){50}",
    r"\w+@\w+\.com",
    r"(foo|ba[rz]|(q)+)*end",
    r".{10}(x)?",
    r"((a|b)(c|(d)+)){2,4}",
    r"(?:ab)+|z",
    r"(\d{3}-){2}\d{4}",
    r"(|a)(b|)\D\W",
    r"^(a|bc|[de]f){3}$",
    r"[^a]{3,9}",
    r"(x){0,3}(y)*?(z)+",
]
LONGEST = 100_000


@pytest.mark.parametrize("pattern", AS_RSTR)
def test_a_seed_draws_what_rstr_drew(pattern: str) -> None:
    regexes.check(pattern, LONGEST)
    draw = drawer(pattern)
    for seed in range(20):
        ours, theirs = random.Random(seed), rstr.Rstr(random.Random(seed))
        drawn = [draw(ours) for _ in range(5)]
        assert drawn == [theirs.xeger(pattern) for _ in range(5)], seed


@pytest.mark.parametrize(
    "pattern",
    [*AS_RSTR, r"[^\d\s]{5}", r"\s\S", r"a{150}", r"x{0,3}y*?z+", r"(x(y(z|w)?)?){30}"],
)
def test_every_value_drawn_matches(pattern: str) -> None:
    regexes.check(pattern, LONGEST)
    matches, draw, source = regexes.matcher(pattern), drawer(pattern), random.Random(3)
    for _ in range(200):
        value = draw(source)
        assert matches(value), value


def python_calls(work: Callable[[], Any]) -> int:
    """How many Python functions ``work`` calls (C functions not counted)."""
    calls = 0

    def count(_frame: FrameType, event: str, _arg: Any) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        work()
    finally:
        sys.setprofile(None)
    return calls


def test_a_value_costs_a_draw_per_choice_not_a_walk_per_character() -> None:
    # (ab|cd){500}: 500 choices a value. Walking the parse for each one (as rstr did, 2.3 s for
    # 1000 values, 10-20 s on a busy server) made 12 Python calls a character drawn.
    draw, source = drawer("(ab|cd){500}"), random.Random(1)
    calls = python_calls(lambda: [draw(source) for _ in range(10)])
    characters = 10 * 1000
    assert calls < 1.2 * characters, f"{calls / characters:.1f} Python calls a character"


def test_a_request_with_a_regex_is_the_same_for_the_same_seed() -> None:
    request = {"entity": "user", "count": 50, "seed": 11, "constraints": {"field_constraints": {
        "first_name": {"regex": "(ab|cd){5}[A-Z]\\d?"}}}}  # fmt: skip
    first, again = generate_records(**request), generate_records(**request)
    names = [record["first_name"] for record in first]
    assert names == [record["first_name"] for record in again]
    assert len(set(names)) > 40  # drawn, not one value repeated
    assert all(regexes.matcher("(ab|cd){5}[A-Z]\\d?")(name) for name in names)


def test_draws_the_check_refuses_cost_a_batch_at_most_as_many_checks_as_its_values() -> None:
    # The drawing cannot see an assertion: 'a\bb' is drawn as "ab", which RE2 refuses. Here 19
    # draws in 20 are refused, each a whole check; a value could take up to 200 draws, so a
    # request cost up to 200 times its estimate (with a pattern costly to check, ≈20 s for 50
    # values estimated at 5 s). A batch now spends four refused draws a value at most (200 at
    # least), then is refused naming the regex: a few checks a value, not 200.
    pattern = "x(?:" + "|".join(["a\\bb"] * 19 + ["c"]) + ")"
    checks: list[str] = []
    real = regexes.matcher(pattern)

    def counted(value: str) -> Any:
        checks.append(value)
        return real(value)

    request = {"entity": "user", "count": 500, "seed": 1, "constraints": {"field_constraints": {
        "first_name": {"regex": pattern}}}}  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(regexes, "matcher", lambda _pattern: counted)
        with pytest.raises(InvalidRequestError) as refused:
            generate_records(**request)
    assert len(checks) <= 5 * 500 + 200
    issue = refused.value.issues[0]
    assert issue.field == "constraints.first_name.regex"
    assert "most values drawn from" in issue.message and "do not match it" in issue.message


def test_a_pattern_python_reads_otherwise_is_refused_naming_why_and_warns_nothing() -> None:
    # Python's parser reads '[[:alpha:]]' as a set and a ']', RE2 as a letter: no value drawn
    # matches. Python also warned, once per position, on the server's stderr.
    request = {"entity": "user", "count": 5, "constraints": {"field_constraints": {
        "first_name": {"regex": "x[[:alpha:]]{3}"}}}}  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InvalidRequestError) as refused:
            generate_records(**request)
    assert not [w for w in caught if issubclass(w.category, FutureWarning)]
    assert "syntax Python's parser, which draws, reads otherwise" in refused.value.issues[0].message
