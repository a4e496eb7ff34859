"""Traditional generator: one whole request, or one range of a large one (a stream or job chunk).

Event (``tda.adapters.events.TraditionalEvent``): ``{"request": {...}}`` for a whole response,
``{"request": {...}, "range": {"start": S, "count": N}, "part_size": P}`` for records [S, S+N)
in parts of P, or ``range`` + ``store: {job_id, index}`` for a job's chunk.
"""

from typing import Any

from tda.startup import loading

with loading():  # the collector waits while the function starts (tda/startup.py)
    from tda.adapters.emf_metrics import EmfMetrics
    from tda.adapters.events import TraditionalEvent, parse
    from tda.app import jobs, operations
    from tda.app.settings import settings
    from tda.wiring import install_once as install_adapters

    metrics = EmfMetrics()  # namespace, service: the template's METRICS_NAMESPACE, SERVICE_NAME
    install_adapters(metrics)  # the real chunk store and workflow runner behind the ports; the
    # use cases' counts into the handler's metrics


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    e = parse(event, TraditionalEvent)
    if e.range is None:
        result = operations.whole(e.request, e.fallbacks, e.max_inline_bytes)
    elif e.store is not None:
        result = jobs.write_chunk(
            e.store.job_id, e.store.index, e.request, e.range.start, e.range.count
        )
    else:
        part_size = e.part_size or settings.default_batch_size
        result = operations.generate_range(e.request, e.range.start, e.range.count, part_size)
    metrics.count("RecordsGenerated", result["record_count"])
    return result
