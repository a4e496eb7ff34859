"""Every gRPC request read by the server's own code, each message within a read timeout.

gRPC's core takes a message for as long as its sender likes before any Python code sees it,
holding what has come of it (up to MAX_REQUEST_BYTES): a call never finished was held until
its connection aged out (35 minutes), and a few thousand such calls, to any service (the health
check's included), held gigabytes. A call whose stream ended without a message was never
answered at all.

So every method is registered as one that streams its requests, which the server reads itself
(``context.read``): a unary request is the first message of a client stream, the same on the
wire, and a client compiled from the proto sees no difference. A message not whole within the
timeout ends its call with DEADLINE_EXCEEDED, as HTTP answers such a request 408; a unary call
without one, with INVALID_ARGUMENT.

And the calls are counted twice. Those waiting for a message, as HTTP counts the bodies it is
receiving: past GRPC_MAX_RECEIVING_CALLS the call waiting longest gives way to a new one if it
has waited RECEIVE_GRACE_SECONDS (ended DEADLINE_EXCEEDED, as at its read timeout), else the
new call is answered RESOURCE_EXHAUSTED at once, its message unread, with a retry pushback as
the service's other refusals. A message on its way in earnest takes milliseconds; before, three
calls that sent half of one kept every other caller out until the read timeout, and the same
sender could then start again. A call whose request is whole holds what its handler admits (the
pools' caps), and the health service's Watch, which a client checking its channel's health
keeps open for the channel's life, next to nothing (counted with those waiting, 256 such
clients had kept every other caller out). But not nothing: 40,000 open Watches held +840 MB, so
all calls in flight are counted too, against the far larger GRPC_MAX_CALLS.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc

from tda.app.busy import BusyError
from tda.domain.errors import InvalidRequestError
from tda_local.grpc_statuses import invalid_argument, refuse_busy

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
Behaviour: TypeAlias = Callable[[Any, Context], Any]


class Registrar:
    """``server`` as the generated ``add_…_to_server`` functions see it: each method handler
    they add reads its requests within ``timeout`` seconds a message, while fewer than
    ``max_receiving`` calls are waiting for one, and is refused while ``max_calls`` calls are
    in flight."""

    def __init__(
        self,
        server: grpc.aio.Server,
        timeout: float,
        *,
        max_receiving: int,
        max_calls: int,
        grace: float,
    ) -> None:
        self._server = server
        self._reader = _Reader(timeout, max_receiving, max_calls, grace)

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        self._server.add_registered_method_handlers(
            service, {name: self.reading(handler) for name, handler in handlers.items()}
        )

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(_Reading(self, h) for h in handlers))

    def reading(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """``handler`` made to read its own requests."""
        reader = self._reader
        codecs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _given(handler.unary_unary, reader, reader.first), **codecs
            )
        if handler.unary_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                _given(handler.unary_stream, reader, reader.first), **codecs
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _given(handler.stream_unary, reader, reader.each), **codecs
            )
        return grpc.stream_stream_rpc_method_handler(
            _given(handler.stream_stream, reader, reader.each), **codecs
        )


class _Reading(grpc.GenericRpcHandler):  # type: ignore[misc]
    """A generic handler whose method handlers read their own requests."""

    def __init__(self, registrar: Registrar, handler: grpc.GenericRpcHandler) -> None:
        self._registrar = registrar
        self._handler = handler
        self._made: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        made = self._made.get(details.method)
        if made is None:
            found = self._handler.service(details)
            if found is None:
                return None  # not kept: a caller may name any number of methods
            made = self._made[details.method] = self._registrar.reading(found)
        return made


@dataclass
class _Waiting:
    """A call waiting for its message: since when, and the deadline that ends its wait."""

    began: float
    deadline: asyncio.Timeout | None = None
    gave_way: bool = False


class _Reader:
    """Reads a call's next message within ``timeout``, counting the calls waiting for one and
    the calls in flight."""

    def __init__(self, timeout: float, max_receiving: int, max_calls: int, grace: float) -> None:
        self._timeout = timeout
        self._max_receiving = max_receiving
        self._grace = grace
        self._waiting: dict[int, _Waiting] = {}  # by id, the longest waiting first
        self._leaving = 0  # of them, those that gave way and have not ended yet
        self._max_calls = max_calls
        self._calls = 0

    async def admit(self, context: Context) -> None:
        """The call counted until it ends, or refused if as many are in flight as it takes."""
        held = "has as many gRPC calls in flight"
        await _refused_when_full(context, self._calls, self._max_calls, held, "GRPC_MAX_CALLS")
        self._calls += 1
        context.add_done_callback(self._ended)

    def _ended(self, _: object) -> None:
        self._calls -= 1

    async def read(self, context: Context) -> Any:
        """The call's next message, or ``grpc.aio.EOF``; the call ended if it takes too long,
        or if as many calls are waiting for theirs as the process takes and none has waited
        past its grace, or if it gives way to a new call after its grace."""
        loop = asyncio.get_running_loop()
        waiting_now = len(self._waiting) - self._leaving
        if waiting_now >= self._max_receiving and self._make_room(loop.time()):
            waiting_now -= 1
        held, knob = "is receiving as many gRPC requests", "GRPC_MAX_RECEIVING_CALLS"
        await _refused_when_full(context, waiting_now, self._max_receiving, held, knob)
        waiting = _Waiting(loop.time())
        self._waiting[id(waiting)] = waiting
        try:
            async with asyncio.timeout(self._timeout) as deadline:
                waiting.deadline = deadline
                return await context.read()
        except TimeoutError:
            if waiting.gave_way:
                why = (
                    f"the request was not whole after {loop.time() - waiting.began:.1f} s and "
                    f"gave way to another call ({self._max_receiving} calls were waiting for "
                    "theirs: GRPC_MAX_RECEIVING_CALLS)"
                )
            else:
                why = (
                    f"the request did not arrive whole within {self._timeout:g} s "
                    "(HTTP_READ_TIMEOUT_SECONDS)"
                )
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, why)
        finally:  # the message came, or the call ended (a cancelled one too)
            del self._waiting[id(waiting)]
            if waiting.gave_way:
                self._leaving -= 1

    def _make_room(self, now: float) -> bool:
        """End the wait of the call waiting longest, if it is past its grace."""
        for waiting in self._waiting.values():
            if waiting.gave_way:
                continue  # already leaving
            if now - waiting.began < self._grace or waiting.deadline is None:
                return False  # the longest waiting is not past its grace: none is
            waiting.gave_way = True
            self._leaving += 1
            waiting.deadline.reschedule(now)  # its wait ends as at its read timeout
            return True
        return False

    async def first(self, context: Context) -> Any:
        """A unary call's request; the call ended with INVALID_ARGUMENT if it sent none."""
        request = await self.read(context)
        if request is grpc.aio.EOF:
            issue = InvalidRequestError.single("request", "no request message was sent")
            await context.abort_with_status(invalid_argument(issue))
        return request

    async def each(self, context: Context) -> AsyncIterator[Any]:
        """A streaming call's requests (server reflection's), each read as ``read`` reads."""
        return self._requests(context)

    async def _requests(self, context: Context) -> AsyncIterator[Any]:
        while (request := await self.read(context)) is not grpc.aio.EOF:
            yield request


async def _refused_when_full(
    context: Context, count: int, limit: int, held: str, knob: str
) -> None:
    """The call refused RESOURCE_EXHAUSTED when ``count`` has reached ``limit`` (``knob``)."""
    if count >= limit:
        busy = BusyError(f"this server {held} as it takes ({knob} is {limit}); retry shortly")
        await refuse_busy(context, busy)


def _given(
    behaviour: Behaviour, reader: _Reader, argument: Callable[[Context], Awaitable[Any]]
) -> Behaviour:
    """``behaviour`` run, once its call is admitted, on what ``argument`` makes of the call. A
    handler that yields its answers (the health service's Watch) stays an async generator."""
    if inspect.isasyncgenfunction(behaviour):

        async def yielding(_: Any, context: Context) -> AsyncIterator[Any]:
            await reader.admit(context)
            async for answer in behaviour(await argument(context), context):
                yield answer

        return yielding

    async def answering(_: Any, context: Context) -> Any:
        await reader.admit(context)
        return await behaviour(await argument(context), context)

    return answering
