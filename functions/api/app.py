"""HTTP API: the FastAPI app (``tda.http.app``) served to API Gateway HTTP API (payload v2) by Mangum."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from tda.http.app import create_app
from tda.wiring import install_once as install_adapters

logger = Logger()  # service name, level: the template's POWERTOOLS_* environment
tracer = Tracer()
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE

app = create_app()
asgi = Mangum(app, lifespan="off")


install_adapters()  # the real chunk store and workflow runner behind the ports


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Mangum types the context as its own protocol (settable attributes); it is the same object.
    response = asgi(event, context)  # type: ignore[arg-type]
    metrics.add_metric(
        name=f"Http{response['statusCode'] // 100}xx", unit=MetricUnit.Count, value=1
    )
    return response
