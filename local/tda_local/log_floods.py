"""The server's own log lines, which no caller can flood: of one kind of line, a few a second
are written, and the rest are counted and told in one line when their second is over.

    127.0.0.1:50112: a request body gave way to another (10 of 1048576 bytes in 3.0 s, ...)
    ... (5 lines of that kind in the second)
    and 2395 more like '%s: a request body gave way to another (...)' in 1 s; the last: ...

Before: each body that gave way wrote its line, 7,920 of them in the 90 s of bench_hostile, as
many as an attacker cared to make. A line's kind is its logger and its unformatted message.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

LINES_PER_KIND_PER_SECOND = 5
WINDOW_SECONDS = 1.0
MAX_KINDS = 256  # past it, the kinds seen in no open window are forgotten


@dataclass
class _Second:
    """The lines of one kind since ``began``: how many were written and how many held back."""

    began: float
    written: int = 0
    held: int = 0
    last: logging.LogRecord | None = field(default=None, repr=False)


class RepeatsCounted(logging.Filter):
    """A handler's filter letting ``per_window`` lines of a kind through each window, and
    telling how many more there were, in one line, once their window is over."""

    def __init__(
        self,
        per_window: int = LINES_PER_KIND_PER_SECOND,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._per_window = per_window
        self._window = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._seconds: dict[tuple[str, str], _Second] = {}
        self._telling: Callable[[logging.LogRecord], object] = lambda record: None

    def tell_with(self, handle: Callable[[logging.LogRecord], object]) -> None:
        """Where the counts go: the handler this filters, past its filters."""
        self._telling = handle

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, str(record.msg))
        now = self._clock()
        with self._lock:
            second = self._seconds.get(kind)
            if second is None or now - second.began >= self._window:
                if len(self._seconds) >= MAX_KINDS:
                    self._forget_the_quiet(now)
                second = self._seconds[kind] = _Second(began=now)
            if second.written < self._per_window:
                second.written += 1
                return True
            second.held += 1
            second.last = record
            if second.held == 1:  # the first held back: told when its window is over
                timer = threading.Timer(second.began + self._window - now, self._tell, [second])
                timer.daemon = True
                timer.start()
            return False

    def _forget_the_quiet(self, now: float) -> None:
        """Drops the kinds whose window is over and holds nothing: a message built anew each
        time (an f-string) would otherwise make a kind of every line."""
        self._seconds = {
            kind: second
            for kind, second in self._seconds.items()
            if second.held or now - second.began < self._window
        }

    def _tell(self, second: _Second) -> None:
        with self._lock:
            held, last, second.held = second.held, second.last, 0
        if not held or last is None:
            return
        told = logging.makeLogRecord(last.__dict__)
        told.msg = "and %d more like %r in %g s; the last: %s"
        told.args = (held, str(last.msg), self._window, last.getMessage())
        told.exc_info = told.exc_text = None
        self._telling(told)

    def tell_all(self) -> None:
        """Tells what is held back now, without waiting for its window: at exit."""
        with self._lock:
            seconds = list(self._seconds.values())
        for second in seconds:
            self._tell(second)


def count_repeats_on(logger_name: str) -> RepeatsCounted:
    """The same for a logger that its own code logs to, not its children (uvicorn's
    ``uvicorn.error``, which wrote "Invalid HTTP request received." for each request of junk):
    counted where it is logged, told through its own handlers."""
    logger = logging.getLogger(logger_name)
    for present in logger.filters:  # a process that serves again (the tests' do) counts once
        if isinstance(present, RepeatsCounted):
            return present
    repeats = RepeatsCounted()
    repeats.tell_with(logger.handle)  # a count is a kind of line of its own, one a second
    logger.addFilter(repeats)
    atexit.register(repeats.tell_all)
    return repeats


def enable(logger_name: str = "tda") -> RepeatsCounted:
    """The ``tda`` loggers' lines on stderr as before (their message alone, as Python's
    last-resort handler wrote them), a flood of one kind counted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    repeats = RepeatsCounted()
    handler.addFilter(repeats)

    def write(record: logging.LogRecord) -> None:  # past the filter: a count is never held back
        with handler.lock or contextlib.nullcontext():
            handler.emit(record)

    repeats.tell_with(write)
    logging.getLogger(logger_name).addHandler(handler)
    atexit.register(repeats.tell_all)
    return repeats
