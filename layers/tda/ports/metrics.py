"""The metrics port: what the use cases count (records served per path, fallbacks), wherever
it is published (CloudWatch EMF in Lambda; nowhere locally).

Adapters: ``tda.adapters.emf_metrics`` (EMF, the handler's own counts in the same line, flushed
once per invocation). ``InMemoryMetrics`` is for tests; ``NullMetrics`` for a local process.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol


class Metrics(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...


class NullMetrics:
    def count(self, name: str, value: int = 1) -> None:
        return None


class InMemoryMetrics:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def count(self, name: str, value: int = 1) -> None:
        self.counts[name] += value
