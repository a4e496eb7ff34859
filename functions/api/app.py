"""HTTP API: the FastAPI app (``tda.http.app``) served to API Gateway HTTP API (payload v2) by Mangum."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from tda.app.ports_in_use import chunk_store
from tda.http.app import create_app
from tda.http.oversize import OversizeToStore
from tda.wiring import install_once as install_adapters

logger = Logger()  # service name, level: the template's POWERTOOLS_* environment
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE

app = create_app()
# Lambda caps a response at 6 MB and Mangum base64-encodes NDJSON, CSV and SQL (4/3): a body
# over MAX_RESPONSE_BODY_BYTES (4 MB) goes to S3 and the caller is sent there (303).
limit = int(os.environ.get("MAX_RESPONSE_BODY_BYTES", str(4_000_000)))
asgi = Mangum(OversizeToStore(app, limit, chunk_store), lifespan="off")


install_adapters()  # the real chunk store and workflow runner behind the ports


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Mangum types the context as its own protocol (settable attributes); it is the same object.
    response = asgi(event, context)  # type: ignore[arg-type]
    metrics.add_metric(
        name=f"Http{response['statusCode'] // 100}xx", unit=MetricUnit.Count, value=1
    )
    return response
