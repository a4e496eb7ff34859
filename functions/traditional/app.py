"""Traditional generator: one whole request, or one range of a large one (a stream or job chunk).

Event: ``{"request": {...}}`` for a whole response, or ``{"request": {...}, "range": {"start":
S, "count": N}, "part_size": P}`` for records [S, S+N) in parts of P records each.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from tda.app import operations
from tda.wiring import install as install_adapters

logger = Logger(service="test-data-agent")
tracer = Tracer(service="test-data-agent")
metrics = Metrics(namespace="TestDataAgent", service="test-data-agent")


install_adapters()  # the real chunk store and workflow runner behind the ports


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = operations.traditional(event)
    metrics.add_metric(name="RecordsGenerated", unit=MetricUnit.Count, value=result["record_count"])
    return result
