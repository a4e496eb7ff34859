"""The adapters the use cases run on, installed once at the edge (``tda.wiring.install``).

The use cases ask here for a chunk store or a workflow runner and never name an adapter, so a
test can install in-memory ones and the Lambda handlers, ``tda serve`` and the CLI the real ones.
Each is a factory, called per use: ``TDA_CHUNK_STORE`` may name another store from one call to
the next (tests do), and a boto3 client is made where moto's patches reach it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tda.domain.errors import TdaError
from tda.ports.cache import Cache, NullCache
from tda.ports.chunk_store import ChunkStore
from tda.ports.metrics import Metrics, NullMetrics
from tda.ports.workflow import WorkflowRunner


class NotWiredError(TdaError, RuntimeError):
    """A use case needed an adapter before any was installed (``tda.wiring.install()``)."""


@dataclass(frozen=True)
class PortsInUse:
    """What the use cases reach through their ports: factories for the chunk store, the workflow
    and the cache, and the metrics."""

    chunk_store: Callable[[], ChunkStore]
    workflow: Callable[[], WorkflowRunner]
    metrics: Metrics = field(default_factory=NullMetrics)
    cache: Callable[[], Cache] = NullCache


_installed: list[PortsInUse] = []


def install(ports: PortsInUse) -> None:
    _installed[:] = [ports]


def is_installed() -> bool:
    return bool(_installed)


def installed() -> PortsInUse:
    if not _installed:
        raise NotWiredError("no adapters installed: call tda.wiring.install() at start-up")
    return _installed[0]


def chunk_store() -> ChunkStore:
    return installed().chunk_store()


def workflow() -> WorkflowRunner:
    return installed().workflow()


def metrics() -> Metrics:
    """Counts go nowhere until adapters are installed: counting never stops a request."""
    return _installed[0].metrics if _installed else NullMetrics()


def cache() -> Cache:
    """Nothing is remembered until adapters are installed: a cache is never needed."""
    return _installed[0].cache() if _installed else NullCache()
