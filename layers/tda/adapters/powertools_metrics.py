"""The metrics port on Powertools (CloudWatch EMF). Every ``Metrics()`` of a process shares one
set, so a count made here is flushed by the handler's ``@metrics.log_metrics`` with its own;
the namespace and service come from the template's ``POWERTOOLS_*`` environment."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit


class PowertoolsMetrics:
    def __init__(self) -> None:
        self._metrics = Metrics()

    def count(self, name: str, value: int = 1) -> None:
        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
