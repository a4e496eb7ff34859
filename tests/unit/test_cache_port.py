"""The cache port's contract, which every adapter (in-memory now, Redis with the LLM path)
must keep: a hit returns the bytes put, entries expire, the size is bounded, a miss is None."""

from __future__ import annotations

from tda.ports.cache import InMemoryCache, NullCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_value_comes_back_until_it_expires() -> None:
    clock = FakeClock()
    cache = InMemoryCache(clock=clock)
    cache.put("k", b"records", ttl_seconds=60)
    assert cache.get("k") == b"records" and cache.get("other") is None
    clock.now += 59.9
    assert cache.get("k") == b"records"
    clock.now += 0.1
    assert cache.get("k") is None


def test_the_least_recently_used_entry_goes_first_when_full() -> None:
    cache = InMemoryCache(max_entries=2)
    cache.put("a", b"1", 60)
    cache.put("b", b"2", 60)
    assert cache.get("a") == b"1"  # a is now the most recently used
    cache.put("c", b"3", 60)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"1", None, b"3")


def test_the_null_cache_remembers_nothing() -> None:
    cache = NullCache()
    cache.put("k", b"v", 60)
    assert cache.get("k") is None
