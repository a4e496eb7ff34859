"""What a worker process of ``tda serve --workers N`` hands to the primary, and how.

The workflow runtime (moto's Step Functions interpreter, the jobs, their executions) lives in
the primary process alone. A worker shares the public ports with it (SO_REUSEPORT: the kernel
spreads connections over the processes) and serves what needs no workflow itself: the fast
path, small streams, schemas. Everything else goes to the primary's private loopback ports,
unchanged, and its answer (errors and their field details included) comes back unchanged:

- gRPC: GenerateData on a model path, GenerateDataStream above MAX_SYNC_RECORDS (a job),
  HealthCheck (the primary knows the workflow's health): ``PrimaryStub``.
- HTTP: ``/v1/jobs…``, ``/health`` and ``/health/ready``, and a ``POST /v1/generate`` that does
  not route to the fast path: ``ForwardToPrimary``, an ASGI wrapper around the same app.

So a caller gets the same answer whichever process its connection landed on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import grpc
import httpx
import orjson
from starlette.datastructures import Headers

from tda.app import operations
from tda.app.settings import settings
from tda.domain.errors import InvalidRequestError
from tda.http.responses import coding_refusal
from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc

log = logging.getLogger("tda.http")

# Below uvicorn's own keep-alive (5 s): a connection the primary is about to close is not
# reused for a request it would drop unanswered (a relayed /health answered 502 once in a
# hostile run).
RELAY_KEEPALIVE_SECONDS = 2.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Hop-by-hop headers (RFC 9110 §7.6.1) are the connection's own, not the message's.
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade"}
)
ALWAYS_PRIMARY = ("/v1/jobs", "/health")
# Requests that change nothing (RFC 9110 §9.2.1): sent again when a connection fails under them.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOCAL_HEALTH = "/health/live"  # this process is alive: asked of the process itself


class PrimaryStub:
    """The primary's TestDataService, relayed call for call."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.aio.insecure_channel(
            target,
            options=[
                ("grpc.max_receive_message_length", 64 << 20),
                ("grpc.max_send_message_length", settings.max_request_bytes),
            ],
        )
        self._stub = pb_grpc.TestDataServiceStub(self._channel)  # type: ignore[no-untyped-call]

    async def unary(
        self, method: str, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        """The primary's answer to ``method`` (GenerateData, HealthCheck), or its error."""
        try:
            return await getattr(self._stub, method)(request, timeout=context.time_remaining())
        except grpc.aio.AioRpcError as exc:
            await _relay_error(context, exc)
            raise AssertionError("abort returns only by raising") from exc

    async def stream(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.DataChunk]:
        call = self._stub.GenerateDataStream(request, timeout=context.time_remaining())
        try:
            async for chunk in call:
                yield chunk
        except grpc.aio.AioRpcError as exc:
            await _relay_error(context, exc)
        finally:
            call.cancel()  # our caller went away: so does the primary's job (it cancels it)

    async def close(self) -> None:
        await self._channel.close()


async def _relay_error(
    context: grpc.aio.ServicerContext[Any, Any], exc: grpc.aio.AioRpcError
) -> None:
    # The trailing metadata carries grpc-status-details-bin: the BadRequest field details.
    trailing = tuple(exc.trailing_metadata() or ())  # abort() takes a tuple, not Metadata
    await context.abort(exc.code(), exc.details() or "", trailing)


class ForwardToPrimary:
    """The HTTP API of a worker: ``app`` for what it serves itself, the primary for the rest."""

    def __init__(self, app: ASGIApp, primary_base_url: str) -> None:
        self.app = app
        self.client = httpx.AsyncClient(
            base_url=primary_base_url,
            timeout=None,
            limits=httpx.Limits(keepalive_expiry=RELAY_KEEPALIVE_SECONDS),
        )

    async def _sent(self, request: httpx.Request) -> httpx.Response:
        """``request`` sent to the primary; a read (GET, HEAD) sent once more, on a new
        connection, when the one it went out on was closed under it: a kept-alive connection
        the primary closes just as it is reused (a relayed /health answered 502 in a hostile
        run, though the relay lets a connection go after RELAY_KEEPALIVE_SECONDS)."""
        try:
            return await self.client.send(request, stream=True)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if request.method not in SAFE_METHODS:
                raise
            what = f"{request.method} {request.url.raw_path.decode()}"
            log.warning(
                "the primary closed the connection %s went out on (%s): sent %s again",
                what,
                exc,
                what,
            )
            return await self.client.send(request, stream=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        if scope["method"] == "POST" and (refused := coding_refusal(Headers(scope=scope))):
            # As the primary would answer: forwarded, the body would lose its transfer-encoding
            # (a hop's own header), and a "gzip, chunked" job was taken.
            return await refused(scope, receive, send)
        if path.startswith(ALWAYS_PRIMARY) and path != LOCAL_HEALTH:
            # Bounded like any body here: over the limit, the primary answers 413 itself.
            body = await _read_body(receive, limit=settings.max_request_bytes + 1)
            if body is None:
                return None  # the client went away: nothing to forward, nobody to answer
            return await self._forward(scope, body, send)
        if path == "/v1/generate" and scope["method"] == "POST":
            body = await _read_body(receive, limit=settings.max_request_bytes + 1)
            if body is None:
                return None
            if not _served_here(body):
                return await self._forward(scope, body, send)
            return await self.app(scope, _replay(body, receive), send)
        return await self.app(scope, receive, send)

    async def _forward(self, scope: Scope, body: bytes, send: Send) -> None:
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name.lower() not in HOP_BY_HOP and name.lower() != b"content-length"
        ]
        # The path as it came, still percent-encoded (httptools lets only printable ASCII in):
        # rebuilt from the decoded path, a control character (%14) made an URL httpx refuses
        # (a 500 where the primary answers 422).
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        url = (raw_path + (b"?" + query if query else b"")).decode("latin-1")
        request = self.client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            response = await self._sent(request)
        except httpx.TransportError as exc:
            log.warning("%s %s: the primary process is unreachable (%s)", request.method, url, exc)
            error = {"success": False, "error": f"the primary process is unreachable ({exc})"}
            await _send_whole(send, 502, orjson.dumps(error))
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (name, value)
                        for name, value in response.headers.raw
                        if name.lower() not in HOP_BY_HOP
                    ],
                }
            )
            async for part in response.aiter_raw():
                await send({"type": "http.response.body", "body": part, "more_body": True})
        except httpx.TransportError as exc:
            # Too late for a status: the answer is left unfinished, so its connection is
            # closed and the client sees it cut short (the primary dropped a reader that
            # stopped taking, or is gone).
            log.warning(
                "the primary ended its answer to %s %s before it was whole (%s)",
                scope["method"],
                scope["path"],
                exc,
            )
            return
        finally:
            await response.aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def close(self) -> None:
        await self.client.aclose()


def _served_here(body: bytes) -> bool:
    """A fast-path request, or one this process refuses itself (bad JSON, bad input)."""
    if len(body) > settings.max_request_bytes:
        return True  # the app answers 413
    try:
        return operations.on_fast_path(operations.parse_and_route(orjson.loads(body))[1])
    except (orjson.JSONDecodeError, InvalidRequestError):
        return True


async def _read_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The request body, or its first ``limit`` bytes and more (the caller sees it is over);
    None if the client went away before it was whole."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        parts.append(message.get("body", b""))
        size += len(parts[-1])
        if not message.get("more_body") or (limit is not None and size >= limit):
            break
    return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then whatever the connection says next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _send_whole(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
