"""Where a server runs synchronous requests it does not answer on its event loop: thread pools
by what they cost (``tda.app.operations.placement`` picks one).

Heavy work (a large request, a caller's schema, a regex) never runs on an event loop, where it
would hold up every call sharing it, and never in asyncio's default executor, whose threads wait
on I/O for everyone (job submits, status reads, model-path executions). One thread per core:
heavy requests queue behind each other, not in front of the rest — checks and cheap requests
have a pool of their own, and so have model paths.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="heavy")

# What is checked off the loop (a caller's schema, a regex) and what costs little once checked
# (``tda.domain.limits.light``): a pool of its own, so a refusal or a one-record answer never
# waits for the heavy requests queued before it. Its work is bounded per request (≈0.1 s).
_LIGHT_POOL = ThreadPoolExecutor(
    max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="light"
)


# Model-path requests wait seconds on a model (through the workflow, up to its deadline): a pool
# of their own, so they queue behind each other, never in the default executor where job
# submits and status reads wait. Waiting costs no CPU: more threads than cores.
MODEL_PATH_THREADS = 16
_MODEL_POOL = ThreadPoolExecutor(max_workers=MODEL_PATH_THREADS, thread_name_prefix="model-path")


_POOLS = {"light": _LIGHT_POOL, "heavy": _POOL, "model": _MODEL_POOL}


async def run_on(where: str, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``call(*args, **kwargs)`` on the ``light``, ``heavy`` or ``model`` pool (as
    ``tda.app.operations.placement`` names them), awaited from the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOLS[where], functools.partial(call, *args, **kwargs))
