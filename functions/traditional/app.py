"""Traditional generator: one whole request, or one range of a large one (a stream or job chunk).

Event (``tda.adapters.events.TraditionalEvent``): ``{"request": {...}}`` for a whole response,
``{"request": {...}, "range": {"start": S, "count": N}, "part_size": P}`` for records [S, S+N)
in parts of P, or ``range`` + ``store: {job_id, index}`` for a job's chunk.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tda.adapters.events import TraditionalEvent, parse
from tda.app import jobs, operations
from tda.app.settings import settings
from tda.wiring import install_once as install_adapters

logger = Logger()  # service name, level: the template's POWERTOOLS_* environment
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE
install_adapters()  # the real chunk store and workflow runner behind the ports


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
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
    metrics.add_metric(name="RecordsGenerated", unit=MetricUnit.Count, value=result["record_count"])
    return result
