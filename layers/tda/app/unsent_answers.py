"""Answers a server process holds for callers who have not taken them, and the bound on them.

An answer is made whole before it is sent (up to ``MAX_RESPONSE_BYTES``, 32 MiB), and what its
caller does not take stays in the process until the connection is dropped
(``STREAM_STALL_SECONDS``). Tried against ``tda serve``: sixty connections that each asked for
1000 records of three 10,000-character strings and read nothing took the process from 0.5 to
2.1 GB in 12 s; a few hundred would have taken the machine. Admission is heavy work's rule
turned on memory: past ``MAX_UNSENT_BYTES`` held, a request that is not answered on the event
loop (≤ 256 KiB) and any new stream are refused at once, before any work, until callers take
theirs or are dropped.

The server counts what it holds (``count_with``): the domain does not know its transports.
An answer being made counts too, at its estimated size, from its admission until it is handed
back (``reserved``). Before, requests admitted at the same moment each found nothing held and
all made theirs: four 30 MB answers against a bound of 20 MiB, up to the heavy queue's eight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tda.app.busy import RETRY_AFTER_SECONDS, BusyError
from tda.app.settings import settings
from tda.domain.limits import size_text

_counters: list[Callable[[], int]] = []
_being_made = [0]  # bytes of the answers admitted and not yet handed back (their estimates)
_lock = threading.Lock()  # a process's HTTP and gRPC servers admit on two loops


def count_with(counter: Callable[[], int]) -> None:
    """Adds ``counter`` (bytes of answers held unsent, read from any thread) to what is held;
    once, however many servers a process starts with it."""
    if counter not in _counters:
        _counters.append(counter)


def held() -> int:
    return _being_made[0] + sum(counter() for counter in _counters)


def check_room() -> None:
    """``BusyError`` (HTTP 429, gRPC RESOURCE_EXHAUSTED) when this process holds more answers
    unsent than ``MAX_UNSENT_BYTES``."""
    unsent = held()
    if unsent > settings.max_unsent_bytes:
        raise BusyError(
            f"this server holds {size_text(unsent)} of answers being made or not yet taken by "
            f"their callers (MAX_UNSENT_BYTES is {size_text(settings.max_unsent_bytes)}); retry in "
            f"{RETRY_AFTER_SECONDS} s"
        )


@contextmanager
def reserved(answer_bytes: int) -> Iterator[None]:
    """An answer of up to ``answer_bytes`` counted as held while it is made: ``check_room``
    first, and the two at once, so requests admitted together each see the others'."""
    with _lock:
        check_room()
        _being_made[0] += answer_bytes
    try:
        yield
    finally:
        with _lock:
            _being_made[0] -= answer_bytes
