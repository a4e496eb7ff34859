"""Write locks for a vector store on ``s3://``: a lease object per table, taken with S3's
conditional writes (``If-None-Match: *`` creates it only if absent; ``If-Match`` takes over an
expired one only if nobody else did first).

A folder's tables are locked with ``flock``; Lambdas share no disk, and LanceDB on S3 checks no
key across concurrent commits, so what needs one writer at a time (folding reuse counts,
tidying, a collection's first write) takes the table's lease. A lease lasts ``ttl`` seconds and
its holder renews it while it holds it: a holder that died frees it by then. Its age is
judged by S3's clock alone (``_expired``).
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

from tda.domain.errors import VectorStoreUnavailableError

LEASE_SECONDS = 30.0
# A write waits this long for another's lease before it is refused: a request that learns
# waits for the store no longer than this (then answers, noting it learned nothing).
WAIT_SECONDS = 2.0
# A conditional write lost to another writer's; NoSuchKey: an If-Match on a lease released
# meanwhile (the next try creates it).
_TAKEN_BY_ANOTHER = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409"}


class LeaseBusyError(VectorStoreUnavailableError):
    """Another writer held the lease for as long as the caller would wait."""


class S3Leases:
    def __init__(self, url: str, ttl: float = LEASE_SECONDS, client: Any = None) -> None:
        parsed = urlparse(url)
        self.bucket = parsed.netloc
        prefix = parsed.path.strip("/")
        self.prefix = f"{prefix}/_locks/" if prefix else "_locks/"
        self.ttl = ttl
        self._s3 = client
        self._owner = f"{socket.gethostname()}:{os.getpid()}"

    @contextmanager
    def held(self, name: str, wait: float | None = None) -> Iterator[None]:
        """Hold ``name``'s lease; LeaseBusyError if another holds it ``wait`` seconds on
        (None: WAIT_SECONDS)."""
        key = self.prefix + f"{name}.lock"
        renewal = _Renewal(self, key, self._take(key, WAIT_SECONDS if wait is None else wait))
        renewal.start()
        try:
            yield
        finally:
            etag = renewal.stop()
            # Only our own: if it expired and another took it, theirs stays. An unreleased
            # lease expires on its own.
            with suppress(Exception):
                self._client().delete_object(Bucket=self.bucket, Key=key, IfMatch=etag)

    def _take(self, key: str, wait: float) -> str:
        deadline = time.monotonic() + wait
        delay = 0.02
        while True:
            etag = self._put(key, IfNoneMatch="*")
            if etag is None:
                etag = self._take_over_expired(key)
            if etag is not None:
                return etag
            if time.monotonic() >= deadline:
                raise LeaseBusyError(
                    f"vector store s3://{self.bucket}: the write lease {key} is held by another "
                    f"writer (it expires {self.ttl:.0f} s after it was taken)"
                )
            time.sleep(min(delay * random.uniform(0.5, 1.5), max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.5)

    def _take_over_expired(self, key: str) -> str | None:
        try:
            held = self._client().get_object(Bucket=self.bucket, Key=key)
            body = held["Body"].read()
        except Exception as exc:
            if _code(exc) in {"NoSuchKey", "404"}:
                return None  # released meanwhile: the next try creates it
            raise _unavailable(self.bucket, exc) from exc
        if not _expired(held, body):
            return None
        return self._put(key, IfMatch=held["ETag"])

    def _put(self, key: str, **condition: str) -> str | None:
        """The lease written under ``condition``; its ETag, or None if another writer's won."""
        lease = {"until": time.time() + self.ttl, "ttl": self.ttl, "by": self._owner}
        body = json.dumps(lease).encode()
        try:
            put = self._client().put_object(Bucket=self.bucket, Key=key, Body=body, **condition)
        except Exception as exc:
            if _code(exc) in _TAKEN_BY_ANOTHER:
                return None
            raise _unavailable(self.bucket, exc) from exc
        return str(put["ETag"])

    def _client(self) -> Any:
        if self._s3 is not None:
            return self._s3
        # The kept client of the current AWS environment (endpoint, credentials: LanceDB's).
        from tda.adapters.aws_clients import client

        return client("s3")


class _Renewal(threading.Thread):
    """Renews a held lease every third of its length, so a long hold (a keyword index built
    over 100K rows on S3) is not taken over; a holder that died stops renewing."""

    def __init__(self, leases: S3Leases, key: str, etag: str) -> None:
        super().__init__(name="tda-s3-lease", daemon=True)
        self.leases, self.key, self.etag = leases, key, etag
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.leases.ttl / 3):
            try:
                renewed = self.leases._put(self.key, IfMatch=self.etag)
            except VectorStoreUnavailableError:
                continue  # S3 out of reach for now: the next renewal tries again
            if renewed is None:
                return  # it expired unrenewed and another writer took it: not ours now
            self.etag = renewed

    def stop(self) -> str:
        """The lease's ETag now, no renewal in flight."""
        self._stopping.set()
        self.join()
        return self.etag


def _expired(held: dict[str, Any], body: bytes) -> bool:
    """Whether the lease read (GetObject's answer, its body) was last written more than its
    length ago, by S3's clock: its ``LastModified`` against the answer's ``Date``, both S3's,
    so no holder's or taker's clock matters (a taker 40 s ahead took over a lease held and
    renewed). Both are to the second: a second more is waited. With no ``Date`` (a mock of S3),
    the holder's ``until`` against this clock."""
    try:
        lease = json.loads(body)
        until, ttl = float(lease["until"]), float(lease.get("ttl", LEASE_SECONDS))
    except (ValueError, TypeError, KeyError, AttributeError):
        return True  # not a lease this service wrote: as good as expired
    now = held.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    written = held.get("LastModified")
    if now and written is not None:
        with suppress(TypeError, ValueError):
            return (parsedate_to_datetime(now) - written).total_seconds() > ttl + 1
    return until <= time.time()


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    return str(error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _unavailable(bucket: str, exc: Exception) -> VectorStoreUnavailableError:
    return VectorStoreUnavailableError(f"vector store s3://{bucket}: write lease: {exc}")
