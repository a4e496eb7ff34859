"""Job steps of the workflow: ``plan`` (chunk plan of a large request) and ``finalize`` (the
manifest). Chunks themselves are written by the traditional function.

Event: ``{"action": "plan", "job_id": ..., "request": {...}}`` or ``{"action": "finalize",
"job_id": ..., "plan": {...}, "chunks": [...], "error": {...} | null}``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tda.app import jobs
from tda.wiring import install as install_adapters

logger = Logger()  # service name, level: the template's POWERTOOLS_* environment
tracer = Tracer()
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE


install_adapters()  # the real chunk store and workflow runner behind the ports


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = jobs.jobs_event(event)
    if event.get("action") == "finalize":
        metrics.add_metric(name="JobRecords", unit=MetricUnit.Count, value=result["record_count"])
    return result
