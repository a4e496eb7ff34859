"""HTTP API: the FastAPI app (``tda.http.app``) served to API Gateway HTTP API (payload v2) by Mangum."""

import os
from typing import Any

from tda.startup import loading

with loading():  # the collector waits while the function starts (tda/startup.py)
    from mangum import Mangum

    from tda.adapters.emf_metrics import EmfMetrics
    from tda.adapters.http_event import parse_http_event
    from tda.app.ports_in_use import chunk_store
    from tda.http.app import create_app
    from tda.http.oversize import OversizeToStore
    from tda.wiring import install_once as install_adapters

    metrics = EmfMetrics()  # namespace, service: the template's METRICS_NAMESPACE, SERVICE_NAME

    app = create_app()
    # Lambda caps a response at 6 MB and Mangum base64-encodes NDJSON, CSV and SQL (4/3): a body
    # over MAX_RESPONSE_BODY_BYTES (4 MB) goes to S3 and the caller is sent there (303).
    limit = int(os.environ.get("MAX_RESPONSE_BODY_BYTES", str(4_000_000)))
    asgi = Mangum(OversizeToStore(app, limit, chunk_store), lifespan="off")

    install_adapters(metrics)  # the real chunk store and workflow runner behind the ports; the
    # use cases' counts into the handler's metrics


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parse_http_event(event)  # a field-level error for what API Gateway never sends
    response = asgi(event, context)
    metrics.count(f"Http{response['statusCode'] // 100}xx", 1)
    return response
