"""The HTTP API's Lambda event (API Gateway payload 2.0), parsed before Mangum reads it.

Apart from ``tda.adapters.events`` (the workflow's payloads): the ``api`` function builds these
three models only, not the dozen it never gets (≈8 ms of its cold start).
"""

# No ``from __future__ import annotations``: the validators are built from the annotations as
# objects (tda.domain.wire).
import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from tda.domain.errors import InvalidRequestError
from tda.domain.wire import WireModel


class _Event(WireModel):
    camel_aliases: ClassVar[bool] = True  # the event's own names: sourceIp, isBase64Encoded
    extra: ClassVar[str] = "ignore"


@dataclass(frozen=True, kw_only=True)
class HttpRequestLine(_Event):
    method: str
    path: str
    source_ip: str


@dataclass(frozen=True, kw_only=True)
class HttpRequestContext(_Event):
    http: HttpRequestLine


@dataclass(frozen=True, kw_only=True)
class HttpApiEvent(_Event):
    """API Gateway HTTP API's payload 2.0: what Mangum reads of it, as it reads it (the names
    are the event's own, camelCase). API Gateway never sends another; a direct invoke may."""

    version: Literal["2.0"]
    request_context: HttpRequestContext
    headers: dict[str, str] = field(default_factory=dict)
    raw_query_string: str = ""
    cookies: list[str] | None = None
    body: str | None = None
    is_base64_encoded: bool = False


def parse_http_event(event: Any) -> HttpApiEvent:
    """``event`` as the HTTP API sends it, its base64 body included, or the field it gets wrong."""
    if not isinstance(event, dict):
        raise InvalidRequestError.single("event", "must be a JSON object")
    parsed = HttpApiEvent.parse(event)
    if parsed.is_base64_encoded and parsed.body:
        try:
            # Strictly: Mangum's decoding skips what is not base64 and passes the rest on.
            base64.b64decode(parsed.body, validate=True)
        except binascii.Error:
            raise InvalidRequestError.single("body", "isBase64Encoded, but not base64") from None
    return parsed
