"""The llm generation path: not in this build yet.

It raises ``PathUnavailableError``, which the workflow's Catch turns into a fallback
(DESIGN.md: hybrid → llm → traditional, rag → traditional), named in the response.
"""

from typing import Any, NoReturn

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from tda.app import operations

logger = Logger()  # service name, level: the template's POWERTOOLS_* environment
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> NoReturn:
    operations.unavailable("llm")
