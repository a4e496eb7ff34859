"""Traditional generator: one whole request, or one range of a large one (a stream or job chunk).

Event: ``{"request": {...}}`` for a whole response, or ``{"request": {...}, "range": {"start":
S, "count": N}, "part_size": P}`` for records [S, S+N) in parts of P records each.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tda.app import operations
from tda.wiring import install as install_adapters

logger = Logger()  # service name, level: the template's POWERTOOLS_* environment
tracer = Tracer()
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE


install_adapters()  # the real chunk store and workflow runner behind the ports


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = operations.traditional(event)
    metrics.add_metric(name="RecordsGenerated", unit=MetricUnit.Count, value=result["record_count"])
    return result
