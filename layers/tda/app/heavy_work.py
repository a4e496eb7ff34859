"""Where a server runs synchronous requests it does not answer on its event loop: thread pools
by what they cost (``tda.app.operations.placement`` picks one).

Heavy work (a large request, a caller's schema, a regex) never runs on an event loop, where it
would hold up every call sharing it, and never in asyncio's default executor, whose threads wait
on I/O for everyone (job submits, status reads, model-path executions). One thread per core:
heavy requests queue behind each other, not in front of the rest — checks and cheap requests
have a pool of their own, and so have model paths.

A queue only helps as long as its last caller is answered before giving up: a synchronous
request finding a pool with as many requests, or as much work, as it admits is refused at once
(``tda.app.busy.BusyError``: HTTP 429, gRPC RESOURCE_EXHAUSTED) rather than made to wait past
any deadline.
A stream's ranges are not counted: the stream was admitted, and is never cut off midway.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from tda.app import unsent_answers
from tda.app.busy import RETRY_AFTER_SECONDS, BusyError
from tda.app.settings import settings

P = ParamSpec("P")
T = TypeVar("T")

THREADS_PER_POOL = max(2, os.cpu_count() or 2)  # one a core: the heavy and the light pool
_POOL = ThreadPoolExecutor(max_workers=THREADS_PER_POOL, thread_name_prefix="heavy")

# What is checked off the loop (a caller's schema, a regex) and what costs little once checked
# (``tda.domain.limits.light``): a pool of its own, so a refusal or a one-record answer never
# waits for the heavy requests queued before it. Its work is bounded per request (≈0.1 s).
_LIGHT_POOL = ThreadPoolExecutor(max_workers=THREADS_PER_POOL, thread_name_prefix="light")


# Model-path requests wait seconds on a model (through the workflow, up to its deadline): a pool
# of their own, so they queue behind each other, never in the default executor where job
# submits and status reads wait. Waiting costs no CPU: more threads than cores.
MODEL_PATH_THREADS = 16
_MODEL_POOL = ThreadPoolExecutor(max_workers=MODEL_PATH_THREADS, thread_name_prefix="model-path")


_POOLS = {"light": _LIGHT_POOL, "heavy": _POOL, "model": _MODEL_POOL}

# Synchronous requests a pool takes at once, running and queued. Heavy: by their estimated CPU
# (``limits.work_seconds``; one request may cost 100x another) up to ``HEAVY_QUEUE_SECONDS``,
# so the last one admitted is answered within about that long, and never more than four per
# thread. A request costing more than the whole budget is still taken when the pool is idle.
# Model paths: each waits up to its sync budget (``SYNC_BUDGET_SECONDS``), so one queued behind
# each running. The light pool's work is bounded at ≈0.1 s a request: not counted.
ADMITTED = {"heavy": 4 * THREADS_PER_POOL, "model": 2 * MODEL_PATH_THREADS}
# How much longer than estimated heavy work has lately taken here, wall clock on its thread. The
# estimates are upper bounds for an idle core; a busy machine (the other worker, streams, model
# paths, another tenant of the host) stretches them past that margin, and a queue admitted by
# estimate alone then answered 57% of its requests within its budget (four processes spinning
# beside one server: ``bench/bench_heavy_queue.py``). Admission scales the queued estimates by
# this pace once it passes 1: fewer are taken, and those taken are answered in time (88%).
# Each run counts by its estimate, as in the queue: the pace is that of the last few seconds of
# estimated work, so a run of quick 1000-cart answers does not hide the 3 s regex requests that
# make the wait.
PACE_SPAN_SECONDS = 4.0  # of estimated work the pace is averaged over
PACE_MIN_ESTIMATE_SECONDS = 0.1  # below this a run's time is mostly a thread hop: not a sample
PACE_MAX = 10.0  # one run stalled by a pause outside it moves the pace this far at most


class Pace:
    """Wall seconds per estimated second over recent heavy runs, each weighted by its estimate."""

    def __init__(self) -> None:
        self.ratio = 1.0
        self._lock = threading.Lock()

    def record(self, estimate: float, took: float) -> None:
        if estimate < PACE_MIN_ESTIMATE_SECONDS:
            return
        weight = min(1.0, estimate / PACE_SPAN_SECONDS)
        with self._lock:
            self.ratio += weight * (min(took / estimate, PACE_MAX) - self.ratio)

    @property
    def factor(self) -> float:
        """What estimates are multiplied by when admitting: never below 1, as they are upper
        bounds already."""
        return max(1.0, self.ratio)


heavy_pace = Pace()
_requests = dict.fromkeys(ADMITTED, 0)
_seconds = dict.fromkeys(ADMITTED, 0.0)
_admitted_lock = threading.Lock()  # the HTTP and gRPC servers of a process may have two loops


def _budget(where: str) -> float:
    return settings.heavy_queue_seconds if where == "heavy" else float("inf")


def _held(where: str, pace: float) -> str:
    slower = f" (lately {pace:.1f}x slower than estimated)" if pace > 1 else ""
    return f"≈{_seconds[where] * pace:.0f} s of {where} work already{slower}"


@contextmanager
def _admitted(where: str, seconds: float) -> Iterator[None]:
    """Counts a synchronous request, and the CPU ``seconds`` it may take, on the pool ``where``
    while it runs there or waits for it; ``BusyError`` at once when the pool has as many
    requests, or as much work at its recent pace, as it takes."""
    limit = ADMITTED.get(where)
    if limit is None:
        yield
        return
    pace = heavy_pace.factor if where == "heavy" else 1.0
    with _admitted_lock:
        full = _requests[where] >= limit
        busy = _requests[where] > 0 and (_seconds[where] + seconds) * pace > _budget(where)
        if full or busy:
            held = f"{limit} {where} requests already" if full else _held(where, pace)
            raise BusyError(
                f"this server is making {held}; retry in {RETRY_AFTER_SECONDS} s, or "
                "submit a job (POST /v1/jobs, tda jobs submit)"
            )
        _requests[where] += 1
        _seconds[where] += seconds
    try:
        yield
    finally:
        with _admitted_lock:
            _requests[where] -= 1
            _seconds[where] -= seconds


def _timed(estimate: float, call: Callable[[], T]) -> T:
    """``call()``, its wall time on this thread recorded against its ``estimate``."""
    started = time.perf_counter()
    result = call()
    heavy_pace.record(estimate, time.perf_counter() - started)
    return result


async def run_on(where: str, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``call(*args, **kwargs)`` on the ``light``, ``heavy`` or ``model`` pool (as
    ``tda.app.operations.placement`` names them), awaited from the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOLS[where], functools.partial(call, *args, **kwargs))


async def run_admitted(
    where: str,
    seconds: float,
    answer_bytes: int,
    call: Callable[P, T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """A whole synchronous request: ``call(*args, **kwargs)`` on the pool ``where``, counted
    there with the CPU ``seconds`` it may take while it waits and runs; ``BusyError`` at once,
    before any work, when that pool has as much as it takes (``_admitted``). A heavy run's wall
    time feeds the pace later admissions are scaled by. Refused too while this process holds
    more answers unsent than it may, and its own ``answer_bytes`` counted with them until it
    returns (``tda.app.unsent_answers``)."""
    bound = functools.partial(call, *args, **kwargs)
    with unsent_answers.reserved(answer_bytes), _admitted(where, seconds):
        if where == "heavy":
            return await run_on(where, _timed, seconds, bound)
        return await run_on(where, bound)
