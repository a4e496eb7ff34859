"""A process's start-up: its modules loaded with the cyclic garbage collector waiting, and what
they made frozen after (``gc.freeze``: kept out of every later collection).

Modules, their classes and their data are objects that live as long as the process, and no
garbage. Yet their allocations set off collection after collection while they load (some 50 in
a handler's or the CLI's start), each walking them again: ≈5 ms of a handler's cold start and
≈10 ms of a one-record ``tda generate`` (7 %), measured. Paused alone, the collector would walk
them all at once at its next run; frozen, never again, and neither do a warm Lambda's full
collections while it serves.

What the process made before is frozen with them, as the local server freezes its heap once
started (``tda_local/serve.py``). The collector's state is left as found.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def loading() -> Iterator[None]:
    """Module-level start-up work: imports, the adapters installed, a warm-up."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
