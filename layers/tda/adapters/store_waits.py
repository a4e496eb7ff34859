"""How long a remote vector store (LanceDB on ``s3://``, Weaviate) is waited for, and when it is
taken as down.

Each of LanceDB's S3 requests has its timeout and no retry (``object_store_options``), but
LanceDB itself tries a manifest's listing six times over: a store whose endpoint stopped
answering held each request for ≈6 timeouts and 4 s of backoff (≈34 s at the default 5 s),
where a store down is a fallback. So a connection, and a read, is waited for WAIT_TIMEOUTS
request timeouts at most; what was given up on goes on in a daemon thread of its own to its
end (a keyword index a read builds under its lease included: the lease is held by that
thread, not by the waiter). A write is not cut off (a bulk add may take long), but is refused
while the store is down.
A store given up on is taken as down for DOWN_SECONDS: requests are refused at once, without
a try, then it is tried again.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import TypeVar

from tda.domain.errors import VectorStoreUnavailableError

T = TypeVar("T")

# How long an object store that could not be reached is taken as down, without trying it.
DOWN_SECONDS = 30.0
# A connection or a read on an object store is waited for this many request timeouts at most.
WAIT_TIMEOUTS = 2


class StoreWaits:
    """One store's deadline and down state (per process: a forked child tries for itself)."""

    def __init__(self, url: str, request_timeout_seconds: float) -> None:
        self.url = url
        self.remote = "://" in url
        self.deadline = WAIT_TIMEOUTS * request_timeout_seconds
        self._down: tuple[float, int, str] | None = None

    def refuse_while_down(self) -> None:
        """VectorStoreUnavailableError if the store was given up on less than DOWN_SECONDS
        ago (in this process)."""
        down = self._down
        if down is None:
            return
        when, pid, why = down
        waited = time.monotonic() - when
        if pid == os.getpid() and waited < DOWN_SECONDS:
            raise VectorStoreUnavailableError(
                f"{why} ({waited:.0f} s ago; tried again {DOWN_SECONDS:.0f} s after)"
            )

    def went_down(self, why: str) -> None:
        if self.remote:
            self._down = (time.monotonic(), os.getpid(), why)

    def answered(self) -> None:
        self._down = None

    def waited(self, future: Future[T]) -> T:
        """``future``'s result, given up on after the deadline: the store is down then."""
        try:
            return future.result(timeout=self.deadline)
        except FutureTimeoutError:
            why = f"vector store {self.url} unreachable: no answer in {self.deadline:g} s"
            self.went_down(why)
            raise VectorStoreUnavailableError(why) from None

    def within_deadline(self, call: Callable[[], T]) -> T:
        """``call()`` as it is for a local folder; on an object store, refused while the store
        is down and given up on at the deadline (it goes on in a thread of its own)."""
        if not self.remote:
            return call()
        self.refuse_while_down()
        return self.waited(in_a_thread(call, "tda-lance-read"))


def in_a_thread(call: Callable[[], T], name: str) -> Future[T]:
    """``call`` run in a daemon thread of its own (it may outlive the wait for it)."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
