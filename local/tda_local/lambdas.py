"""The Lambda handlers of ``functions/``, loaded and invoked in-process as AWS would invoke them.

``invoke(name, event)`` calls ``functions/<name>/app.py:lambda_handler`` with a Lambda-like
context, so the shim exercises exactly the code that runs in AWS. Their metrics are counted but
not written locally (no CloudWatch) unless the environment says otherwise (METRICS_DISABLED).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from tda_local.template import global_environment

FUNCTIONS_DIR = Path(
    os.environ.get("TDA_FUNCTIONS_DIR", Path(__file__).resolve().parents[2] / "functions")
)
Handler = Callable[[dict[str, Any], Any], Any]

os.environ.setdefault("METRICS_DISABLED", "true")  # no CloudWatch here: nothing on stdout
# Service name and metrics namespace as the template's Globals set them in AWS: the handlers'
# metrics read them from the environment, never from code.
_globals = global_environment()
for _name in ("SERVICE_NAME", "METRICS_NAMESPACE"):
    if _name in _globals:
        os.environ.setdefault(_name, _globals[_name])


@dataclass
class LocalContext:
    """The attributes of the Lambda context object that handlers (and Mangum) read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "local"
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@cache
def _module(name: str) -> ModuleType:
    path = FUNCTIONS_DIR / name / "app.py"
    if not path.is_file():
        raise LookupError(f"no Lambda handler at {path}")
    spec = importlib.util.spec_from_file_location(f"tda_functions_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def handler(name: str) -> Handler:
    found: Handler = _module(name).lambda_handler
    return found


_thread = threading.local()


# Every loop made for a thread, with its thread (weakly: an ended thread is the interpreter's to
# forget, LocalWorkflows.forget_finished). The interpreter invokes each state's Lambda on a
# thread of its own, so a loop is closed once its thread has ended (checked whenever a loop is
# made): kept open, each held three descriptors for the life of the process, and `tda serve`
# reached the usual limit of 1,024 after ≈330 job chunks. What is left is closed at exit: left
# to the garbage collector at interpreter shutdown, an unclosed loop's __del__ found its
# selector's descriptor gone and printed a traceback ("Invalid file descriptor: -1").
_LOOPS: list[tuple[weakref.ref[threading.Thread], asyncio.AbstractEventLoop]] = []
_LOOPS_LOCK = threading.Lock()


@atexit.register
def _close_thread_loops() -> None:
    with _LOOPS_LOCK:
        for _, loop in _LOOPS:
            if not loop.is_running() and not loop.is_closed():
                loop.close()
        _LOOPS.clear()


def _close_loops_of_ended_threads() -> None:
    """Close the loops whose threads have ended (called holding ``_LOOPS_LOCK``)."""
    kept = []
    for thread, loop in _LOOPS:
        alive = thread()
        if alive is not None and alive.is_alive():
            kept.append((thread, loop))
        elif not loop.is_closed():
            loop.close()
    _LOOPS[:] = kept


def _ensure_event_loop() -> None:
    """Give the calling thread an event loop, as the Lambda runtime's one thread always has.

    Mangum sets a loop up only in the thread that imported the handler; the shim invokes from
    worker threads, where ``asyncio.get_event_loop()`` would otherwise raise.
    """
    try:
        asyncio.get_running_loop()
        return  # called on an event loop's own thread (the shim's fast path): it has one
    except RuntimeError:
        pass
    if getattr(_thread, "loop", None) is None:
        _thread.loop = asyncio.new_event_loop()
        with _LOOPS_LOCK:
            _close_loops_of_ended_threads()
            _LOOPS.append((weakref.ref(threading.current_thread()), _thread.loop))
    # Set every time: an asyncio.run() on this thread since the last call unset it.
    asyncio.set_event_loop(_thread.loop)


def invoke(name: str, event: dict[str, Any]) -> Any:
    module = _module(name)
    _ensure_event_loop()
    return module.lambda_handler(event, LocalContext(function_name=name))
