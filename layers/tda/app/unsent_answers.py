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
"""

from __future__ import annotations

from collections.abc import Callable

from tda.app.busy import RETRY_AFTER_SECONDS, BusyError
from tda.app.settings import settings
from tda.domain.limits import size_text

_counters: list[Callable[[], int]] = []


def count_with(counter: Callable[[], int]) -> None:
    """Adds ``counter`` (bytes of answers held unsent, read from any thread) to what is held;
    once, however many servers a process starts with it."""
    if counter not in _counters:
        _counters.append(counter)


def held() -> int:
    return sum(counter() for counter in _counters)


def check_room() -> None:
    """``BusyError`` (HTTP 429, gRPC RESOURCE_EXHAUSTED) when this process holds more answers
    unsent than ``MAX_UNSENT_BYTES``."""
    unsent = held()
    if unsent > settings.max_unsent_bytes:
        raise BusyError(
            f"this server holds {size_text(unsent)} of answers their callers have not taken "
            f"(MAX_UNSENT_BYTES is {size_text(settings.max_unsent_bytes)}); retry in "
            f"{RETRY_AFTER_SECONDS} s"
        )
