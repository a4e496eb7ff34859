"""API Gateway HTTP API (payload format 2.0) events, as AWS sends them to the ``api`` function."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import orjson


def http_event(
    method: str, path: str, body: Any = None, query: dict[str, str] | None = None
) -> dict[str, Any]:
    raw = b"" if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
    query = {k: v for k, v in (query or {}).items() if v}
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query),
        **({"queryStringParameters": query} if query else {}),
        "headers": {
            "content-type": "application/json",
            "content-length": str(len(raw)),
            "host": "localhost",
        },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "tda-shim",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": base64.b64encode(raw).decode() if raw else "",
        "isBase64Encoded": bool(raw),
    }


def json_body(response: dict[str, Any]) -> Any:
    """The JSON body of an API Gateway v2 response (Mangum may base64-encode it)."""
    raw = response.get("body") or ""
    data = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
    return orjson.loads(data) if data else None
