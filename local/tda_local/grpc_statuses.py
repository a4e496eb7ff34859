"""How the gRPC shim's refusals are put on the wire, for every service the port serves
(``tda_local.grpc_server``'s and those ``tda_local.grpc_arrival`` reads for)."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from tda.app.busy import BusyError
from tda.domain.errors import InvalidRequestError


async def refuse_busy(context: grpc.aio.ServicerContext[Any, Any], exc: BusyError) -> None:
    # gRPC's retry policy waits this long before a retry it makes itself (A6).
    pushback = (("grpc-retry-pushback-ms", str(exc.retry_after_seconds * 1000)),)
    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), pushback)


# An error travels in trailing metadata, which clients cap (8 KB by default): the first
# violations in full, a count of the rest (an HTTP 422 body carries every one).
MAX_VIOLATIONS = 20
MAX_DESCRIPTION = 300


def invalid_argument(exc: InvalidRequestError) -> grpc.Status:
    issues = exc.issues[:MAX_VIOLATIONS]
    detail = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field=i.field[:MAX_DESCRIPTION], description=i.message[:MAX_DESCRIPTION]
            )
            for i in issues
        ]
    )
    message = exc.summary(MAX_VIOLATIONS, MAX_DESCRIPTION)
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message)
    status.details.add().Pack(detail)
    return rpc_status.to_status(status)
