"""Router: the routing decision and the fast path (DESIGN.md).

Event (direct invoke, the local gRPC shim): ``{"request": {...}}`` in the seed's request shape;
from the workflow's first step, ``{"action": "route", "request": {...}}`` → the decision alone.
A small request is answered here with the traditional generator; paths that are not built yet
are served by traditional too, and the response says so (``metadata.routed_path``,
``metadata.fallback_reason``).
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from tda import operations

logger = Logger(service="test-data-agent")
tracer = Tracer(service="test-data-agent")
metrics = Metrics(namespace="TestDataAgent", service="test-data-agent")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("action") == "route":  # the workflow's routing step
        return operations.decide(event.get("request"))
    response = operations.generate_sync(event.get("request"))
    metrics.add_metric(
        name="RecordsGenerated", unit=MetricUnit.Count, value=response["record_count"]
    )
    return response
