"""Job steps of the workflow: ``plan`` (chunk plan of a large request) and ``finalize`` (the
manifest). Chunks themselves are written by the traditional function.

Event (``tda.adapters.events``, ``action`` picks): ``{"action": "plan", "job_id": ...,
"request": {...}}`` or ``{"action": "finalize", "job_id": ..., "plan": {...}, "chunks": [...],
"error": {...} | null}``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tda.adapters.events import PlanJobEvent, parse_jobs_event
from tda.app import jobs
from tda.wiring import install_once as install_adapters

logger = Logger()  # service name, level: the template's POWERTOOLS_* environment
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE
install_adapters()  # the real chunk store and workflow runner behind the ports


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    e = parse_jobs_event(event)
    if isinstance(e, PlanJobEvent):
        concurrency = e.options.max_concurrency if e.options else None
        return jobs.plan_and_mark(e.job_id, e.request, concurrency)
    result = jobs.finalize(e.job_id, e.plan, e.chunks, e.error)
    metrics.add_metric(name="JobRecords", unit=MetricUnit.Count, value=result["record_count"])
    return result
