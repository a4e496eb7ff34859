"""The gRPC shim: ``testdata.v1.TestDataService`` over the very same Lambda handlers.

Each RPC turns the proto message into the JSON event AWS would deliver and invokes the handler
in-process (``lambdas.invoke``), in a worker thread so the event loop keeps serving; only a
small GenerateData bound for the fast path runs on the loop itself (``_parsed``), the rest is
checked on a light pool and made there when cheap, heavy generation on a pool of its own
(``tda.app.heavy_work``):

- GenerateData → ``router`` with ``{"request": ...}`` (the fast path, or the sync workflow for
  a model path).
- GenerateDataStream above MAX_SYNC_RECORDS, with the workflow runtime up (``tda serve``): a
  job (``POST /v1/jobs`` through ``api``), each chunk streamed as it lands, in order, in parts
  of DEFAULT_BATCH_SIZE records; a cancelled call cancels the job (``job_stream``).
- GenerateDataStream otherwise → ``traditional`` with one ``range`` of BATCH_ROWS records at a
  time, split into parts of DEFAULT_BATCH_SIZE records, each sent as a DataChunk as soon as it
  exists. Memory is bounded by one range; a cancelled call stops asking for ranges.
- GetSchemas, HealthCheck → ``api`` with API Gateway v2 events (GET /v1/schemas, GET /health).

Bad input → INVALID_ARGUMENT with a ``google.rpc.BadRequest`` detail per field; anything else →
INTERNAL naming the request id, with the trace in the server log only.

In a worker process of ``tda serve --workers N`` (no workflow runtime of its own), a model-path
GenerateData, a stream above MAX_SYNC_RECORDS and HealthCheck are relayed to the primary
(``tda_local.forwarding.PrimaryStub``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict, ParseDict
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from tda.app import operations, unsent_answers
from tda.app.busy import BusyError
from tda.app.environment import read_float, read_int
from tda.app.heavy_work import run_admitted, run_on
from tda.app.requests import with_seed
from tda.app.settings import settings
from tda.domain.contract import GenerateRequest
from tda.domain.errors import InvalidRequestError, shown
from tda.domain.plan import BATCH_ROWS
from tda.domain.routing import RoutingDecision
from tda.ports.chunk_store import ChunkStoreUnavailableError
from tda_local import access_log, job_stream, lambdas
from tda_local.apigw import http_event, json_body
from tda_local.forwarding import PrimaryStub
from tda_local.grpc_arrival import Registrar
from tda_local.grpc_statuses import invalid_argument, refuse_busy
from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TestDataService"].full_name
logger = logging.getLogger("tda.grpc")


def request_payload(message: pb.GenerateRequest) -> dict[str, Any]:
    """The seed's JSON request shape of a proto request (field names as in the .proto)."""
    return MessageToDict(message, preserving_proto_field_name=True)


class TestDataService(pb_grpc.TestDataServiceServicer):
    """The service; in a worker of ``tda serve --workers N``, with the ``primary`` that owns the
    workflow runtime: calls that need it are relayed there (``tda_local.forwarding``)."""

    def __init__(
        self, primary: PrimaryStub | None = None, draining: Callable[[], bool] = lambda: False
    ) -> None:
        self.primary = primary
        self.draining = draining

    async def GenerateData(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GenerateResponse:
        await _refuse_undecodable(request, context)
        payload = request_payload(request)
        parsed = _parsed(payload)
        relayed = parsed is not None and not operations.on_fast_path(parsed[1])
        if relayed and self.primary is not None:
            answer: pb.GenerateResponse = await self.primary.unary("GenerateData", request, context)
            return _held_until_sent(context, answer)
        if parsed is None or operations.answers_inline(*parsed):
            # Small, or refused at once (by the handler itself).
            placed = operations.Placement("inline", 0.0)
        else:
            placed = await _checked(context, *parsed)
        event = {"request": payload}
        result = await _call(context, request.request_id, "router", event, *placed, sync=True)
        # The handler's JSON uses the proto's field names, so the message is built directly:
        # ParseDict checks a string character by character (~330 µs for 10 carts' data).
        return _held_until_sent(context, pb.GenerateResponse(**result))

    async def GenerateDataStream(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        """Each chunk written as it exists, and within STREAM_STALL_SECONDS: a caller that
        takes no message for that long has its stream ended (RESOURCE_EXHAUSTED), and the job
        behind it removed. Before, a stream nobody read stayed open for good, its job's whole
        output held on disk (three stalled streams of a million users: 1.4 GB). Not begun while
        this process holds more answers unsent than it may (``tda.app.unsent_answers``)."""
        await _refuse_undecodable(request, context)
        try:
            unsent_answers.check_room()
        except BusyError as exc:
            await refuse_busy(context, exc)
        async with contextlib.aclosing(self._chunks(request, context)) as chunks:
            async for chunk in chunks:
                if not await _written(context, chunk):
                    break
            else:
                return
        # Closed first (its job removed): the call's end waits behind what the window holds.
        stall = settings.stream_stall_seconds
        await context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"the stream was ended: its reader took no message for {stall:g} s "
            "(STREAM_STALL_SECONDS); what it had not read was removed",
        )

    async def _chunks(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncGenerator[pb.DataChunk, None]:
        if request.count > settings.max_sync_records and self.primary is not None:
            async for chunk in self.primary.stream(request, context):
                yield chunk
            return
        payload = with_seed(request_payload(request))
        if request.count > settings.max_sync_records and os.environ.get("JOB_STATE_MACHINE_ARN"):
            chunks = job_stream.follow(context, request.request_id, payload, _call)
        else:
            chunks = self._stream_ranges(context, request.request_id, payload)
        try:
            async for chunk in chunks:
                yield chunk
        except InvalidRequestError as exc:
            await context.abort_with_status(invalid_argument(exc))
        except job_stream.JobStreamError as exc:
            logger.warning("stream %s: %s", shown(request.request_id), exc)
            await context.abort(exc.code, str(exc))
        except ChunkStoreUnavailableError as exc:  # a chunk read straight from the store
            logger.warning("stream %s: %s", shown(request.request_id), exc)
            await context.abort(grpc.StatusCode.UNAVAILABLE, exc.for_caller)

    async def _stream_ranges(
        self, context: grpc.aio.ServicerContext[Any, Any], request_id: str, payload: dict[str, Any]
    ) -> AsyncIterator[pb.DataChunk]:
        """No workflow runtime (or a small request): the traditional handler, range by range."""
        index, start, scored, weighted = 0, 0, 0, 0.0
        # A cancelled call does not always interrupt a streaming handler (the next write may
        # just be dropped), so the loop asks before each range: cancelling stops generation.
        while not context.cancelled():
            event = {
                "request": payload,
                "range": {"start": start, "count": BATCH_ROWS},
                "part_size": settings.default_batch_size,
            }
            result = await _call(context, request_id, "traditional", event, "heavy")
            metadata = result["metadata"]
            scored += result["record_count"]
            weighted += metadata["coherence_score"] * result["record_count"]
            parts = result["parts"]
            # The range is held until its last part is taken (a stalled reader: a minute); its
            # parts' messages are made one at a time, so its data counts once.
            with _held_while_sent(sum(len(part["data"]) for part in parts)):
                for i, part in enumerate(parts):
                    final = result["is_last"] and i == len(parts) - 1
                    chunk = pb.DataChunk(
                        request_id=request_id,
                        data=part["data"],
                        chunk_index=index,
                        is_final=final,
                        record_count=part["record_count"],
                    )
                    if final:
                        metadata["coherence_score"] = weighted / scored
                        chunk.metadata.CopyFrom(ParseDict(metadata, pb.GenerationMetadata()))
                    yield chunk
                    index += 1
            if result["is_last"]:
                return
            start += result["record_count"]

    async def GetSchemas(
        self, request: pb.GetSchemasRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetSchemasResponse:
        await _refuse_undecodable(request, context)
        event = http_event("GET", "/v1/schemas", query={"domain": request.domain})
        response = await _call(context, "", "api", event)
        return ParseDict({"schemas": json_body(response)}, pb.GetSchemasResponse())

    async def HealthCheck(
        self, request: pb.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.HealthCheckResponse:
        await _refuse_undecodable(request, context)
        if self.primary is not None:
            return await self.primary.unary("HealthCheck", request, context)
        response = await _call(context, "", "api", http_event("GET", "/health"))
        answer = json_body(response)
        if self.draining():  # this server is stopping, whatever the (process-wide) handler says
            answer["status"] = "draining"
        return ParseDict(answer, pb.HealthCheckResponse(), ignore_unknown_fields=True)


class _Undecodable:
    """A request whose bytes are no valid message: bad UTF-8 in a string, nesting past the
    parser's limit, a corrupt wire. gRPC's own answer to a failed decode is UNKNOWN; this
    service's is INVALID_ARGUMENT, like any other bad input."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


# What this process's answers hold until their callers have taken them: gRPC sends a returned
# GenerateData answer as its caller's window allows, and a caller that stops taking holds all
# of it; a stream holds its range of records until its last part is taken. Counted by
# ``tda.app.unsent_answers`` with what HTTP connections hold; changed on the gRPC loop only.
# Measured: 40 answers of 30 MB nobody read took the process 3.5 GB more, for good.
_sending = [0]
COPIES_HELD = 3  # of a GenerateData answer's data while it is sent: message, wire form, gRPC's


def unsent_bytes() -> int:
    """Bytes held for answers (GenerateData's, streams' ranges) not yet taken by their callers."""
    return _sending[0]


@contextlib.contextmanager
def _held_while_sent(size: int) -> Iterator[None]:
    _sending[0] += size
    try:
        yield
    finally:
        _sending[0] -= size


def _held_until_sent(
    context: grpc.aio.ServicerContext[Any, Any], answer: pb.GenerateResponse
) -> pb.GenerateResponse:
    size = COPIES_HELD * len(answer.data)
    _sending[0] += size

    def sent(_: object) -> None:
        _sending[0] -= size

    context.add_done_callback(sent)
    return answer


def _decoder(message: Any) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        try:
            return message.FromString(data)
        except Exception as exc:  # DecodeError, RecursionError: the caller's bytes, not ours
            return _Undecodable(f"not a valid {message.DESCRIPTOR.full_name} message ({exc})")

    return decode


async def _written(context: grpc.aio.ServicerContext[Any, Any], chunk: pb.DataChunk) -> bool:
    """Whether ``chunk`` was sent within STREAM_STALL_SECONDS (gRPC's flow control holds a
    write once the reader's window is full)."""
    try:
        # asyncio.timeout, not wait_for: no task a message (≈4 µs against ≈12, 20,000 a
        # million-record stream).
        async with asyncio.timeout(settings.stream_stall_seconds):
            await context.write(chunk)
    except TimeoutError:
        return False
    return True


async def _refuse_undecodable(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    if isinstance(request, _Undecodable):
        await context.abort_with_status(
            invalid_argument(InvalidRequestError.single("request", request.reason))
        )


def _add_service(service: TestDataService, server: Registrar) -> None:
    """The generated registration, with requests decoded by ``_decoder``."""
    methods: dict[str, tuple[Any, Any, Any]] = {
        "GenerateData": (grpc.unary_unary_rpc_method_handler, pb.GenerateRequest, pb.GenerateResponse),
        "GenerateDataStream": (grpc.unary_stream_rpc_method_handler, pb.GenerateRequest, pb.DataChunk),
        "GetSchemas": (grpc.unary_unary_rpc_method_handler, pb.GetSchemasRequest, pb.GetSchemasResponse),
        "HealthCheck": (grpc.unary_unary_rpc_method_handler, pb.HealthCheckRequest, pb.HealthCheckResponse),
    }  # fmt: skip
    handlers = {
        name: handler(
            getattr(service, name),
            request_deserializer=_decoder(request),
            response_serializer=response.SerializeToString,
        )
        for name, (handler, request, response) in methods.items()
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


def _parsed(payload: dict[str, Any]) -> tuple[GenerateRequest, RoutingDecision] | None:
    """A GenerateData request and its route, or None when it cannot be parsed.

    As the HTTP API does: a small fast-path answer is well under a millisecond of CPU (warm
    slabs, ``tda.paths.traditional.reservoir``), less than a hop to a worker thread and back
    costs, and the hop's contention for the GIL slowed every other call (bench/bench_serve.py):
    it is made on the loop. Anything else is checked on the light pool (``_checked``)."""
    try:
        return operations.parse_and_route(payload)
    except InvalidRequestError:
        return None


async def _checked(
    context: grpc.aio.ServicerContext[Any, Any],
    request: GenerateRequest,
    decision: RoutingDecision,
) -> operations.Placement:
    """Where a request not answered on the loop is made (``operations.placement``): a cheap one
    on the light pool, a large or caller-shaped one on the heavy pool (``tda.app.heavy_work``),
    a model path, which waits for its workflow execution for seconds, on its own. Found on the
    light pool: bad input is refused there, never after waiting behind heavy work."""
    try:
        return await run_on("light", operations.placement, request, decision)
    except InvalidRequestError as exc:
        await context.abort_with_status(invalid_argument(exc))
        raise AssertionError("abort returns only by raising") from None


async def _call(
    context: grpc.aio.ServicerContext[Any, Any],
    request_id: str,
    name: str,
    event: dict[str, Any],
    where: str = "thread",
    seconds: float = 0.0,
    answer_bytes: int = 0,
    sync: bool = False,
) -> Any:
    """The handler ``name`` on ``event``: on the loop (``inline``), on the light pool (``light``:
    checked and cheap), on the heavy pool (``heavy``: generation that may take a while), on the
    model-path pool (``model``: waiting on a model through the workflow) or in a thread
    (``thread``: waiting on I/O). ``sync``: a whole request, counted on its pool with the CPU
    ``seconds`` it may take, and refused with RESOURCE_EXHAUSTED when that pool has as many
    requests or as much work as it takes (a stream's range is never counted)."""
    try:
        if where == "inline":
            return lambdas.invoke(name, event)
        if where == "thread":
            return await asyncio.to_thread(lambdas.invoke, name, event)
        if not sync:
            return await run_on(where, lambdas.invoke, name, event)
        return await run_admitted(where, seconds, answer_bytes, lambdas.invoke, name, event)
    except InvalidRequestError as exc:
        await context.abort_with_status(invalid_argument(exc))
    except BusyError as exc:
        await refuse_busy(context, exc)
    except ChunkStoreUnavailableError as exc:
        logger.warning("request %s: %s", shown(request_id), exc)
        await context.abort(grpc.StatusCode.UNAVAILABLE, exc.for_caller)
    except Exception:
        request_id = request_id or str(uuid.uuid4())
        logger.exception("request %s failed in %s", shown(request_id), name)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request {request_id})")
    raise AssertionError("abort returns only by raising")


def _milliseconds(knob: str) -> int:
    return int(read_float(knob) * 1000)


def host_and_port(host: str, port: int) -> str:
    """``host:port`` as a gRPC target or a URL has it: an IPv6 address in brackets (gRPC read
    ``::1:9001`` as no address at all)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_server(
    port: int,
    host: str = "127.0.0.1",
    primary: PrimaryStub | None = None,
    exclusive: bool = False,
    draining: Callable[[], bool] = lambda: False,
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """The server with the service, reflection and the standard health service; its bound port.

    gRPC binds with SO_REUSEPORT by default on Linux, so the workers of ``tda serve --workers``
    listen on the same port; an ``exclusive`` server (one process) turns it off.
    """
    stall_ms = int(settings.stream_stall_seconds * 1000)
    server = grpc.aio.server(
        interceptors=[access_log.GrpcAccessLog()] if access_log.wanted() else None,
        options=[
            ("grpc.max_receive_message_length", settings.max_request_bytes),
            ("grpc.max_send_message_length", 64 << 20),
            ("grpc.so_reuseport", 0 if exclusive else 1),
            # Calls one connection may have open at once: as many as the process, and one
            # more, which the process refuses itself (RESOURCE_EXHAUSTED, with a pushback). At
            # HTTP/2's usual 100, a burst on one grpcio channel had calls queued behind open
            # Watches until their deadline or refused UNAVAILABLE (RST_STREAM, REFUSED_STREAM),
            # and a worker's relay to the primary, one channel, had calls past 100 refused so.
            ("grpc.max_concurrent_streams", read_int("GRPC_MAX_CALLS") + 1),
            # A caller that stops reading stops answering pings too: its connection, and the
            # answers it holds, are let go after two stall periods, not after gRPC's two hours
            # (keepalive) and one minute (a ping's own timeout, which a keepalive ping waits).
            ("grpc.keepalive_time_ms", stall_ms),
            ("grpc.keepalive_timeout_ms", stall_ms),
            ("grpc.http2.ping_timeout_ms", stall_ms),
            # A peer that answers pings but never finishes its request held what it had sent
            # (up to MAX_REQUEST_BYTES a call) for as long as it liked: 100 such calls, 200 MB.
            # A client's channel reconnects at a GOAWAY by itself; a call in flight has the
            # grace to finish.
            ("grpc.max_connection_age_ms", _milliseconds("GRPC_CONNECTION_AGE_SECONDS")),
            ("grpc.max_connection_age_grace_ms", _milliseconds("GRPC_CONNECTION_GRACE_SECONDS")),
        ],
    )
    # Every service's requests read within the read timeout, and its calls counted: a call
    # holds what has come of its message (up to MAX_REQUEST_BYTES) until it is whole, and an
    # open one (a Watch) something even then (tda_local.grpc_arrival).
    registrar = Registrar(
        server,
        read_float("HTTP_READ_TIMEOUT_SECONDS"),
        max_receiving=read_int("GRPC_MAX_RECEIVING_CALLS"),
        max_calls=read_int("GRPC_MAX_CALLS"),
        grace=read_float("RECEIVE_GRACE_SECONDS"),
    )
    _add_service(TestDataService(primary, draining), registrar)
    unsent_answers.count_with(unsent_bytes)
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, registrar)
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    names = (SERVICE_NAME, health_name, reflection.SERVICE_NAME)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        reflection.aio.ReflectionServicer(names), registrar
    )
    bound = server.add_insecure_port(host_and_port(host, port))
    return server, bound, checker
