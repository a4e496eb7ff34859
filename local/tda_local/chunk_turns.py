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
from collections.abc import Iterator
from contextlib import contextmanager

_turns = threading.Condition()
_writing = False
_streamed_waiting = 0
_streamed: set[str] = set()


def stream(job_id: str) -> None:
    """``job_id``'s chunks go first from now on: a caller waits on each."""
    with _turns:
        _streamed.add(job_id)


def unstream(job_id: str) -> None:
    with _turns:
        _streamed.discard(job_id)


@contextmanager
def turn(job_id: str) -> Iterator[None]:
    """Hold the process's one chunk-writing turn while writing a chunk of ``job_id``."""
    global _writing, _streamed_waiting
    with _turns:
        first = job_id in _streamed
        _streamed_waiting += first
        try:
            _turns.wait_for(lambda: not _writing and (first or _streamed_waiting == 0))
        finally:
            _streamed_waiting -= first
        _writing = True
    try:
        yield
    finally:
        with _turns:
            _writing = False
            _turns.notify_all()
