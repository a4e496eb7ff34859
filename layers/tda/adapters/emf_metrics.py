"""The metrics port in CloudWatch's embedded metric format (EMF): counts gathered during an
invocation, written as one JSON line on stdout when it ends; Lambda's log stream turns the line
into metrics. Counts made through the port and the handler's own land in the same line.

Written here rather than taken from Powertools: its package imports its Logger, Tracer and
Metrics at once (≈20 ms of every cold start) for what is a dozen lines of JSON. Named by the
template's Globals: ``METRICS_NAMESPACE``, ``SERVICE_NAME`` (the one dimension);
``METRICS_DISABLED=true`` keeps counting but writes nothing (the local runtime, tests).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import IO, Any, TypeVar

MAX_METRICS_PER_LINE = 100  # EMF's limit for one record
Handler = TypeVar("Handler", bound=Callable[..., Any])


class EmfMetrics:
    def __init__(
        self,
        namespace: str | None = None,
        service: str | None = None,
        out: IO[str] | None = None,
    ) -> None:
        self.namespace = namespace or os.environ.get("METRICS_NAMESPACE", "TestDataAgent")
        self.service = service or os.environ.get("SERVICE_NAME", "test-data-agent")
        self._out = out
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()  # a request's threads count at once (fan-out, readers)

    def count(self, name: str, value: int = 1) -> None:
        with self._lock:
            self._counts[name] += value

    def flush(self) -> None:
        """Write what was counted since the last flush as EMF records (none when nothing was)."""
        with self._lock:  # taken and cleared at once: a count made meanwhile is not lost
            counts = sorted(self._counts.items())
            self._counts.clear()
        if os.environ.get("METRICS_DISABLED", "").lower() == "true":
            return
        out = self._out or sys.stdout
        for record in self._records(counts):
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
        out.flush()

    def _records(self, counts: list[tuple[str, int]]) -> list[dict[str, Any]]:
        stamp = int(time.time() * 1000)
        records = []
        for at in range(0, len(counts), MAX_METRICS_PER_LINE):
            batch = counts[at : at + MAX_METRICS_PER_LINE]
            directive = {
                "Namespace": self.namespace,
                "Dimensions": [["service"]],
                "Metrics": [{"Name": name, "Unit": "Count"} for name, _ in batch],
            }
            record: dict[str, Any] = {
                "_aws": {"Timestamp": stamp, "CloudWatchMetrics": [directive]},
                "service": self.service,
            }
            record.update(batch)
            records.append(record)
        return records

    def log_metrics(self, handler: Handler) -> Handler:
        """The handler, flushing what it counted when it returns or raises."""

        @functools.wraps(handler)
        def flushed(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            finally:
                self.flush()

        return flushed  # type: ignore[return-value]
