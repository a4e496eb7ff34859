"""The cache port: bytes by key, for a time (DESIGN.md: a cached model request replays byte for
byte with no call). The service works with the cache absent or down: a miss is never an error.

``InMemoryCache`` (bounded, least recently used out first, entries expire) serves one process
and the tests; ``NullCache`` remembers nothing. A Redis adapter comes with the first path that
caches (the LLM path), tested against the same contract (``tests/unit/test_cache_port.py``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol


class Cache(Protocol):
    def get(self, key: str) -> bytes | None:
        """The value, or None (absent, expired, or the cache unreachable)."""
        ...

    def put(self, key: str, value: bytes, ttl_seconds: float) -> None: ...


class NullCache:
    def get(self, key: str) -> bytes | None:
        return None

    def put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        return None


class InMemoryCache:
    def __init__(self, max_entries: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._entries[key] = (self._clock() + ttl_seconds, bytes(value))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
