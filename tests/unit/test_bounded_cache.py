"""The schema caches' bound: by count and by the characters their keys hold."""

from __future__ import annotations

from collections.abc import Callable

from tda.domain.bounded_cache import cached_by_size


def counting_cache(max_entries: int, max_chars: int) -> tuple[list[str], Callable[[str], str]]:
    """A cached ``str.upper`` and the texts it was worked out for, in order."""
    made: list[str] = []

    @cached_by_size(max_entries, max_chars)
    def upper(text: str) -> str:
        made.append(text)
        return text.upper()

    return made, upper


def test_a_key_asked_again_is_not_worked_out_again() -> None:
    made, upper = counting_cache(4, 1000)
    assert [upper("ab"), upper("ab"), upper("cd")] == ["AB", "AB", "CD"]
    assert made == ["ab", "cd"]


def test_past_its_characters_the_least_recently_used_keys_go_first() -> None:
    made, upper = counting_cache(100, 25)
    for text in ("a" * 10, "b" * 10, "a" * 10, "c" * 10):  # 30 characters: "b"s are dropped
        upper(text)
    upper("a" * 10)
    upper("b" * 10)
    assert made == ["a" * 10, "b" * 10, "c" * 10, "b" * 10]


def test_a_key_larger_than_the_whole_cache_is_never_kept() -> None:
    made, upper = counting_cache(100, 25)
    upper("x" * 30)
    upper("x" * 30)
    upper("y")
    upper("y")
    assert made == ["x" * 30, "x" * 30, "y"]


def test_past_its_count_the_oldest_key_goes() -> None:
    made, upper = counting_cache(2, 1000)
    for text in ("a", "b", "c", "a"):
        upper(text)
    assert made == ["a", "b", "c", "a"]
