"""Router: the routing decision; the fast path; the sync workflow for everything else.

Event (direct invoke, the local gRPC shim): ``{"request": {...}}`` in the seed's request shape.
A small request routed to traditional is answered here (the fast path); one routed to llm, rag
or hybrid runs through the Express workflow, which retries and falls back
(``operations.serve``). The response says which (``metadata.served_via``, ``execution_arn``).
From the workflow's first step, ``{"action": "route", "request": {...}}`` → the decision alone.
"""

from typing import Any

from tda.startup import loading

with loading():  # the collector waits while the function starts (tda/startup.py)
    from tda.adapters.emf_metrics import EmfMetrics
    from tda.adapters.events import RouterEvent, parse
    from tda.app import operations
    from tda.wiring import install_once as install_adapters

    metrics = EmfMetrics()  # namespace, service: the template's METRICS_NAMESPACE, SERVICE_NAME

    install_adapters(metrics)  # the real chunk store and workflow runner behind the ports; the
    # use cases' counts into the handler's metrics


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    e = parse(event, RouterEvent)
    if e.action == "route":  # the workflow's routing step
        return operations.decide(e.request)
    response = operations.serve(e.request)
    metrics.count("RecordsGenerated", response["record_count"])
    return response
