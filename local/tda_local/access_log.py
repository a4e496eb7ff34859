"""``tda serve --access-log``: one line per call on stderr, for both transports alike.

    access http POST /v1/generate 200 3.1ms
    access grpc /testdata.v1.TestDataService/GenerateData OK 2.4ms

Off by default: a log line per call is work on the fast path, whose calls cost well under a
millisecond.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

logger = logging.getLogger("tda.access")


def wanted() -> bool:
    """Set by ``tda serve --access-log``; in the environment, so worker processes follow."""
    return os.environ.get("TDA_ACCESS_LOG") == "1"


def enable() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s access %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _log(transport: str, what: str, outcome: object, started: float) -> None:
    logger.info("%s %s %s %.1fms", transport, what, outcome, (time.perf_counter() - started) * 1e3)


class HttpAccessLog:
    """An ASGI wrapper that logs each HTTP request's method, path, status and time."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            _log("http", f"{scope['method']} {scope['path']}", status, started)


# A method handler's behaviour by its kind, and how a handler of that kind is made.
KINDS = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler),
    ("unary_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", grpc.stream_stream_rpc_method_handler),
)


class GrpcAccessLog(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Logs each RPC's method, status code and time."""

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        for kind, make in KINDS:
            behaviour = getattr(handler, kind)
            if behaviour is None:
                continue
            # A call answered by its return or with context.write (GenerateDataStream) is a
            # coroutine; one that yields its messages (the health service's Watch), an async
            # generator.
            logged = (
                _logged_stream(behaviour, details.method)
                if inspect.isasyncgenfunction(behaviour)
                else _logged_unary(behaviour, details.method)
            )
            return make(
                logged,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _outcome(context: Any) -> str:
    code = context.code()
    return "OK" if code is None else getattr(code, "name", str(code))


def _logged_unary(behaviour: Any, method: str) -> Any:
    async def logged(request: Any, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return await behaviour(request, context)
        finally:
            _log("grpc", method, _outcome(context), started)

    return logged


def _logged_stream(behaviour: Any, method: str) -> Any:
    async def logged(request: Any, context: Any) -> AsyncIterator[Any]:
        started = time.perf_counter()
        try:
            async for item in behaviour(request, context):
                yield item
        finally:
            _log("grpc", method, _outcome(context), started)

    return logged
