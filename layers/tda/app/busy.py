"""The answer of a server with as much work of some kind as it takes (``tda.app.heavy_work``,
``tda.app.unsent_answers``): retry shortly, or send a job."""

from __future__ import annotations

from tda.domain.errors import TdaError

RETRY_AFTER_SECONDS = 2


class BusyError(TdaError, RuntimeError):
    """This server has as much synchronous work of this weight as it takes: retry shortly, or
    send a job (HTTP 429 with Retry-After, gRPC RESOURCE_EXHAUSTED)."""

    retry_after_seconds = RETRY_AFTER_SECONDS
