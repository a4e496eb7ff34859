"""Concurrency and retries for model calls, ours alone (the SDKs' are off).

``AdaptiveLimit``: calls in flight per (provider, model), adapted as the provider answers —
halved on a 429/529 or a latency blow-up, one more after a run of successes (NeMo Data
Designer's ×0.75 / +1 per 25, made quicker to back off), and one more back toward its start
for each quiet spell with no cut-back (a cut is news about the provider's load then, not now).

``call_with_retries``: a rate limit, timeout or 5xx is retried after the server's
``retry-after`` or a growing pause, but never past the caller's deadline: a wait that would end
after it raises at once, so a ``retry-after: 200`` cannot hold a Lambda. Auth and request
errors are never retried.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tda.domain.errors import LLMRateLimitedError, LLMTimeoutError, TransientError
from tda.ports.model import ModelCall, ModelClient, ModelReply

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
SLOW_FACTOR = 4.0  # a success this many times slower than usual counts as a latency blow-up
SLOW_FLOOR_SECONDS = 2.0  # ... and only past this (short calls vary a lot)
RECOVER_SECONDS = 10.0  # a spell this long with no cut-back gives one slot back, up to the start


class AdaptiveLimit:
    """Calls in flight to one provider and model, shared by every request of the process, and
    shared fairly: while several requests wait, none holds more than its share of the slots
    (a 300-record request's calls cannot keep a 5-record one waiting for all of them)."""

    def __init__(
        self,
        start: int = 4,
        ceiling: int = 16,
        floor: int = 1,
        grow_after: int = 10,
        recover_seconds: float = RECOVER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = start
        self.start = start
        self.ceiling = ceiling
        self.floor = floor
        self.grow_after = grow_after
        self.in_flight = 0
        self._held: Counter[object] = Counter()  # calls in flight, by request
        self._waiting: Counter[object] = Counter()  # calls waiting for a slot, by request
        self._streak = 0
        self._usual_latency: float | None = None
        self._changed = threading.Condition()
        self._recover_seconds = recover_seconds
        self._clock = clock
        self._quiet_since = clock()

    @property
    def limit(self) -> int:
        """Calls allowed in flight now, quiet spells since the last cut-back counted in."""
        # Without it, a limit cut to its floor by a heavy spell stayed there until ten calls
        # succeeded, one at a time: the first request after it waited for any call left over.
        with self._changed:  # reentrant: read from inside acquire and release too
            if self._limit < self.start:
                spells = int((self._clock() - self._quiet_since) // self._recover_seconds)
                if spells > 0:
                    self._limit = min(self.start, self._limit + spells)
                    self._quiet_since += spells * self._recover_seconds
            return self._limit

    def _cut_back(self) -> None:
        self._limit = max(self.floor, self.limit // 2)
        self._quiet_since = self._clock()

    def _until_a_slot_comes_back(self) -> float:
        if self._limit >= self.start:
            return 60.0  # a lock's wait has a ceiling
        return max(0.01, self._quiet_since + self._recover_seconds - self._clock())

    def acquire(
        self, deadline: float, clock: Callable[[], float] = time.monotonic, owner: object = None
    ) -> None:
        with self._changed:
            self._waiting[owner] += 1
            try:
                while not self._may_start(owner):
                    remaining = deadline - clock()
                    if remaining <= 0:
                        raise LLMTimeoutError("no model call slot before the deadline")
                    self._changed.wait(min(remaining, self._until_a_slot_comes_back()))
            finally:
                self._waiting[owner] -= 1
                if not self._waiting[owner]:
                    del self._waiting[owner]
            self.in_flight += 1
            self._held[owner] += 1

    def _may_start(self, owner: object) -> bool:
        if self.in_flight >= self.limit:
            return False
        contenders = len(set(self._waiting) | set(self._held))
        return self._held[owner] < max(1, self.limit // max(1, contenders))

    def release(self, outcome: str, latency: float = 0.0, owner: object = None) -> None:
        """``outcome``: "ok", "throttled" (429/529) or "failed" (timeout, 5xx)."""
        with self._changed:
            self.in_flight -= 1
            self._held[owner] -= 1
            if not self._held[owner]:
                del self._held[owner]
            if outcome == "ok" and self._slow(latency):
                outcome = "throttled"
            if outcome == "throttled":
                self._cut_back()
                self._streak = 0
            elif outcome == "ok":
                self._streak += 1
                if self._streak >= self.grow_after:
                    self._limit = min(self.ceiling, self.limit + 1)
                    self._streak = 0
            self._changed.notify_all()

    def _slow(self, latency: float) -> bool:
        usual = self._usual_latency
        self._usual_latency = latency if usual is None else 0.8 * usual + 0.2 * latency
        return usual is not None and latency > max(SLOW_FACTOR * usual, SLOW_FLOOR_SECONDS)


_LIMITS: dict[tuple[str, str], AdaptiveLimit] = {}
_LIMITS_LOCK = threading.Lock()


def limit_for(provider: str, model: str, start: int = 4, ceiling: int = 16) -> AdaptiveLimit:
    """The process's one limit for a (provider, model): every request shares it."""
    with _LIMITS_LOCK:
        key = (provider, model)
        if key not in _LIMITS:
            _LIMITS[key] = AdaptiveLimit(start=min(start, ceiling), ceiling=ceiling)
        return _LIMITS[key]


@dataclass
class RetryCounter:
    retries: int = 0
    waited_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, waited: float) -> None:
        with self.lock:
            self.retries += 1
            self.waited_seconds += waited


def call_with_retries(
    client: ModelClient,
    call: ModelCall,
    *,
    deadline: float,
    limit: AdaptiveLimit,
    call_timeout: float,
    attempts: int = 4,
    counter: RetryCounter | None = None,
    owner: object = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
) -> ModelReply:
    for attempt in range(attempts):
        remaining = deadline - clock()
        if remaining <= 0:
            raise LLMTimeoutError(f"{client.provider}: the request's deadline passed")
        limit.acquire(deadline, clock, owner)
        started = clock()
        outcome = "failed"
        try:
            reply = client.complete(call, timeout=max(0.1, min(call_timeout, deadline - started)))
            outcome = "ok"
            return reply
        except LLMRateLimitedError as exc:
            outcome = "throttled"
            error: TransientError = exc
            wait = exc.retry_after if exc.retry_after is not None else _backoff(attempt)
        except (LLMTimeoutError, TransientError) as exc:
            error = exc
            wait = _backoff(attempt)
        finally:
            limit.release(outcome, clock() - started, owner)
        if attempt == attempts - 1:
            raise error
        if clock() + wait >= deadline:
            raise type(error)(
                f"{error} — a retry after {wait:.1f} s would end past the request's deadline"
            ) from error
        if counter is not None:
            counter.add(wait)
        (sleep or time.sleep)(wait)  # looked up now: tests replace time.sleep
    raise AssertionError("unreachable")  # the loop returns or raises


def _backoff(attempt: int) -> float:
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt) * (0.5 + random.random() / 2)
