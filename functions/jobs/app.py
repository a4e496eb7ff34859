"""Job steps of the workflow: ``plan`` (chunk plan of a large request) and ``finalize`` (the
manifest). Chunks themselves are written by the traditional function.

Event (``tda.adapters.events``, ``action`` picks): ``{"action": "plan", "job_id": ...,
"request": {...}}`` or ``{"action": "finalize", "job_id": ..., "plan": {...}, "chunks": [...],
"error": {...} | null}``.
"""

from typing import Any

from tda.startup import loading

with loading():  # the collector waits while the function starts (tda/startup.py)
    from tda.adapters.emf_metrics import EmfMetrics
    from tda.adapters.events import PlanJobEvent, parse_jobs_event
    from tda.app import jobs
    from tda.wiring import install_once as install_adapters

    metrics = EmfMetrics()  # namespace, service: the template's METRICS_NAMESPACE, SERVICE_NAME
    install_adapters(metrics)  # the real chunk store and workflow runner behind the ports; the
    # use cases' counts into the handler's metrics


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    e = parse_jobs_event(event)
    if isinstance(e, PlanJobEvent):
        concurrency = e.options.max_concurrency if e.options else None
        return jobs.plan_and_mark(e.job_id, e.request, concurrency)
    result = jobs.finalize(e.job_id, e.plan, e.chunks, e.error)
    metrics.count("JobRecords", result["record_count"])
    return result
