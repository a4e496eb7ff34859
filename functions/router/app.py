"""Router: the routing decision; the fast path; the sync workflow for everything else.

Event (direct invoke, the local gRPC shim): ``{"request": {...}}`` in the seed's request shape.
A small request routed to traditional is answered here (the fast path); one routed to llm, rag
or hybrid runs through the Express workflow, which retries and falls back
(``operations.serve``). The response says which (``metadata.served_via``, ``execution_arn``).
From the workflow's first step, ``{"action": "route", "request": {...}}`` → the decision alone.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tda.adapters.events import RouterEvent, parse
from tda.app import operations
from tda.wiring import install_once as install_adapters

logger = Logger()  # service name, level: the template's POWERTOOLS_* environment
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE


install_adapters()  # the real chunk store and workflow runner behind the ports


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    e = parse(event, RouterEvent)
    if e.action == "route":  # the workflow's routing step
        return operations.decide(e.request)
    response = operations.serve(e.request)
    metrics.add_metric(
        name="RecordsGenerated", unit=MetricUnit.Count, value=response["record_count"]
    )
    return response
