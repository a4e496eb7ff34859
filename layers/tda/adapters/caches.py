"""The cache port's adapters: any chunk store (a folder under ``TDA_HOME`` locally, the jobs
bucket's ``cache/`` prefix in AWS) and Redis (``REDIS_URL``).

A cache is never a reason to fail: an unreachable Redis or an unreadable object is a miss, a
failed write is forgotten (DESIGN.md: the service works with Redis absent or down). Redis calls
time out quickly so a Redis that hangs cannot hold a request.
"""

from __future__ import annotations

import logging
import struct
import time
from typing import Any

from tda.ports.chunk_store import ChunkStore

logger = logging.getLogger("tda.cache")
_EXPIRES = struct.Struct(">d")  # an entry starts with its expiry time (epoch seconds)


def expired(head: bytes, now: float) -> bool:
    """Whether a StoreCache entry beginning with ``head`` (its first bytes) is past its time at
    ``now``; what is too short to say is no entry, and expired too."""
    if len(head) < _EXPIRES.size:
        return True
    (expires,) = _EXPIRES.unpack_from(head)
    return bool(now >= expires)


EXPIRY_BYTES = _EXPIRES.size  # how much of an entry ``expired`` reads


class StoreCache:
    def __init__(self, store: ChunkStore, clock: Any = time.time) -> None:
        self.store = store
        self._clock = clock

    def get(self, key: str) -> bytes | None:
        try:
            raw = self.store.get(key)
        except Exception:  # absent (KeyError), unreadable, unreachable: a miss
            return None
        return None if expired(raw, self._clock()) else raw[_EXPIRES.size :]

    def put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        try:
            self.store.put(key, _EXPIRES.pack(self._clock() + ttl_seconds) + value)
        except Exception:
            return


class RedisCache:
    def __init__(self, url: str, timeout_seconds: float = 0.5) -> None:
        import redis  # only when REDIS_URL is set

        self.url = url
        self._errors = (redis.RedisError, OSError)
        try:
            self._client: Any = redis.Redis.from_url(
                url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
            )
        except ValueError as exc:  # an option it cannot read (``?db=x``): a cache down
            logger.warning("REDIS_URL %s cannot be used (%s): every lookup is a miss", url, exc)
            self._client = None

    def get(self, key: str) -> bytes | None:
        if self._client is None:
            return None
        try:
            value = self._client.get(key)
        except self._errors:
            return None
        return value if isinstance(value, bytes) else None

    def put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if self._client is None:
            return
        try:
            self._client.set(key, value, px=max(1, int(ttl_seconds * 1000)))
        except self._errors:
            return
