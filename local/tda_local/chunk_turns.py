"""Whose job chunk is written next in this process: a job someone is streaming first.

The local runtime writes job chunks one at a time (``LocalWorkflows``: the interpreter runs one
thread's Python at a time, so more at once only took shares from synchronous requests). With a
plain lock any waiting writer took the next turn, so a stream, whose caller waits on each
chunk, got one turn in as many as there were writers: a 5-chunk stream finished after 195
chunks of a job nobody was waiting on, and a 200K-order stream made no progress in a minute
behind sixteen million-order jobs. ``job_stream`` marks its job as streamed; its writers go
before any other waiting writer, and between them in any order.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

_turns = threading.Condition()
_writing = False
_waiting: Counter[str] = Counter()  # job id → its writers waiting for a turn
_streamed: set[str] = set()


def stream(job_id: str) -> None:
    """``job_id``'s chunks go first from now on (its writers already waiting too): a caller
    waits on each."""
    with _turns:
        _streamed.add(job_id)
        _turns.notify_all()


def unstream(job_id: str) -> None:
    with _turns:
        _streamed.discard(job_id)
        _turns.notify_all()


def _may_write(job_id: str) -> bool:
    if _writing:
        return False
    return job_id in _streamed or not any(waiting in _streamed for waiting in _waiting)


@contextmanager
def turn(job_id: str) -> Iterator[None]:
    """Hold the process's one chunk-writing turn while writing a chunk of ``job_id``."""
    global _writing
    with _turns:
        _waiting[job_id] += 1
        try:
            _turns.wait_for(lambda: _may_write(job_id))
        finally:
            _waiting[job_id] -= 1
            if not _waiting[job_id]:
                del _waiting[job_id]
        _writing = True
    try:
        yield
    finally:
        with _turns:
            _writing = False
            _turns.notify_all()
