"""What requests that have not arrived whole may hold in a `tda serve` process, on either
transport: HTTP counts their bodies (MAX_RECEIVING_BYTES), gRPC the calls waiting for their
message (GRPC_MAX_RECEIVING_CALLS).

Raw sockets, because a well-behaved client cannot send a request and stop half-way through.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections import Counter
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from h2.config import H2Configuration
from h2.connection import H2Connection

from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc

from .test_connections import call_begun, unfinished_grpc_call
from .test_serve import Served, until_closed

BODY_BYTES = 1_000_000
HALF_MESSAGE = b"\0" + (1000).to_bytes(4, "big") + b"\n" * 500  # declared 1,000 bytes, sent 500


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    served = Served(None, 1)
    yield served
    served.stop()


def body_begun(port: int, declared: int = BODY_BYTES) -> socket.socket:
    """A connection with a POST whose body is declared ``declared`` bytes and half sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        b"POST /v1/generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"content-length: {declared}\r\n\r\n".encode()
        + b" " * (declared // 2)
    )
    return sock


@contextlib.contextmanager
def bodies_begun(port: int, how_many: int) -> Iterator[list[socket.socket]]:
    socks = [body_begun(port) for _ in range(how_many)]
    try:
        time.sleep(0.5)  # their heads read before the next connection's
        yield socks
    finally:
        for sock in socks:
            sock.close()


def test_request_bodies_still_arriving_are_bounded_and_a_new_one_past_it_is_answered_429() -> None:
    # Before: 400 connections that each sent half of a 1 MB body held +340 MB of the server's
    # RSS until the read timeout, and as many more as anyone opened.
    served = Served(None, 1, env={"MAX_RECEIVING_BYTES": str(3 * BODY_BYTES + 100_000)})
    try:
        with bodies_begun(served.http_port, 3):
            with body_begun(served.http_port) as fourth:
                answer = until_closed(fourth)
            assert answer.startswith(b"HTTP/1.1 429 "), answer[:200]
            head, body = answer.split(b"\r\n\r\n", 1)
            assert b"\r\nretry-after: 2\r\n" in head.lower() + b"\r\n"
            assert b"\r\ncontent-type: application/json" in head.lower()
            refusal = json.loads(body)  # as the service's own 429s
            assert refusal["success"] is False
            assert "MAX_RECEIVING_BYTES is 3100000" in refusal["error"]
            # A body that is not declared could be any size up to MAX_REQUEST_BYTES.
            with socket.create_connection(("127.0.0.1", served.http_port), timeout=30) as sock:
                sock.sendall(
                    b"POST /v1/generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json"
                    b'\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"ent\r\n'
                )
                assert until_closed(sock).startswith(b"HTTP/1.1 429 ")
            # A small request still fits, and a request without a body is not counted.
            small = served.http.post("/v1/generate", json={"entity": "cart", "count": 1})
            assert small.status_code == 200, small.text
            assert served.http.get("/v1/schemas").status_code == 200
        # Their connections gone, what they held is free again.
        deadline = time.monotonic() + 30
        while (
            status := served.http.post("/v1/generate", content=b" " * BODY_BYTES).status_code
        ) == 429:
            assert time.monotonic() < deadline, "the closed connections' bodies still count"
            time.sleep(0.2)
        assert status == 422
        assert "Traceback" not in served.log()
    finally:
        served.stop()


def body_trickling(port: int) -> socket.socket:
    """A connection with a POST whose body is declared BODY_BYTES and has ten bytes sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        b"POST /v1/generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"content-length: {BODY_BYTES}\r\n\r\n".encode()
        + b" " * 10
    )
    return sock


def test_bodies_trickling_in_give_way_to_a_request_that_arrives() -> None:
    # Before: three connections that declared 1 MB each and sent ten bytes held the whole
    # MAX_RECEIVING_BYTES, and every POST with a body was answered 429 until the read timeout
    # cut them off (20 s), when the same sender could start again: a flood of a few bytes a
    # connection locked everyone else out. A body far behind MIN_RECEIVE_BYTES_PER_SECOND now
    # gives way to a request that would otherwise be refused.
    env = {"MAX_RECEIVING_BYTES": str(3 * BODY_BYTES + 100_000), "HTTP_READ_TIMEOUT_SECONDS": "300"}
    served = Served(None, 1, env=env)
    try:
        trickling = [body_trickling(served.http_port) for _ in range(3)]
        time.sleep(1)
        for sock in trickling:
            sock.sendall(b" ")  # still sending, a byte at a time
        time.sleep(1.5)  # past the grace a body has before it must keep pace
        padded = json.dumps({"entity": "cart", "count": 1}).encode() + b" " * 400_000
        answer = served.http.post(
            "/v1/generate", content=padded, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 200, answer.text[:300]
        assert answer.json()["metadata"]["generation_path"] == "traditional"
        # One of the trickling bodies gave way (its connection closed), not all three: the
        # arriving request needed the room of one.
        closed = [sock for sock in trickling if _closed_by_server(sock)]
        assert len(closed) == 1
        assert "gave way" in served.log()
        for sock in trickling:
            sock.close()
        # Bodies arriving on pace are never cut off for another, past their grace too: three
        # that sent half of 1 MB at once are ahead of pace for seconds, and the same request
        # that did not fit beside them is refused as before.
        with bodies_begun(served.http_port, 3) as on_pace:
            time.sleep(2)
            refused = served.http.post(
                "/v1/generate", content=padded, headers={"content-type": "application/json"}
            )
            assert refused.status_code == 429, refused.text[:300]
            assert not any(_closed_by_server(sock) for sock in on_pace)
        assert "Traceback" not in served.log()
    finally:
        served.stop()


def logged(served: Served, line: str, total: int) -> tuple[int, int]:
    """How many times the server wrote ``line`` in a line of its own, and how many more its
    counts told of (``and N more like '…'``), once they add up to ``total`` or 30 s have
    passed. A line may carry its logger's prefix (uvicorn's ``WARNING:``)."""
    deadline = time.monotonic() + 30
    while True:
        log = served.log()
        written = sum(1 for each in log.splitlines() if line in each and "more like" not in each)
        counts = re.findall(rf"and (\d+) more like '[^']*{re.escape(line)}", log)
        told = sum(int(n) for n in counts)
        if written + told >= total or time.monotonic() > deadline:
            return written, told
        time.sleep(0.2)


def test_a_flood_of_bodies_giving_way_is_counted_in_the_log_not_written_line_by_line() -> None:
    # Before: each body that gave way wrote a line of its own, as many as an attacker cared to
    # make (7,920 in the 90 s of bench_hostile). Now a few a second, then one line counting
    # the rest of that second.
    env = {
        "MAX_RECEIVING_BYTES": str(20 * BODY_BYTES + 100_000),
        "HTTP_READ_TIMEOUT_SECONDS": "300",
    }
    served = Served(None, 1, env=env)
    socks: list[socket.socket] = []
    try:
        socks += [body_trickling(served.http_port) for _ in range(20)]
        time.sleep(2)  # past their grace, and far behind pace
        socks += [body_begun(served.http_port) for _ in range(12)]  # each needs one's room
        written, told = logged(served, "a request body gave way to another", 12)
        log = served.log()
        assert written + told == 12, log[-3000:]
        assert written <= 2 * 5, log[-3000:]  # 5 a second, and they may straddle two seconds
        assert re.search(r"; the last: 127\.0\.0\.1:\d+: a request body gave way", log)
        assert "Traceback" not in log
    finally:
        for sock in socks:
            sock.close()
        served.stop()


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (read without waiting)."""
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True
    finally:
        sock.setblocking(True)


def answered_soon(stub: pb_grpc.TestDataServiceStub, why: str) -> None:
    """A one-cart GenerateData answered within 30 s, refused RESOURCE_EXHAUSTED until then (a
    call a client cancelled or whose connection closed ends on the server a moment later)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            answer = stub.GenerateData(pb.GenerateRequest(entity="cart", count=1), timeout=30)
            assert answer.record_count == 1
            return
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
            assert time.monotonic() < deadline, why
            time.sleep(0.2)


def refusal(
    stub: pb_grpc.TestDataServiceStub, request: pb.GenerateRequest, why: str
) -> grpc.RpcError:
    """How ``request`` is refused within 30 s: answered until calls begun just before (on
    connections of their own) have begun on the server too."""
    deadline = time.monotonic() + 30
    while True:
        try:
            stub.GenerateData(request, timeout=30)
        except grpc.RpcError as exc:
            return exc
        assert time.monotonic() < deadline, why
        time.sleep(0.2)


def test_grpc_calls_past_the_cap_are_refused_at_once_though_none_has_arrived_whole() -> None:
    # Before: each GenerateData call whose message never finished held what had come of it (up
    # to MAX_REQUEST_BYTES) until its connection aged out: 400 such calls on four connections,
    # +340 MB, as many more as anyone opened.
    # The held calls stay counted past the 30 s the refusal is waited for: at the default
    # read timeout (20 s) a busy CI's slow answers let them end first (a failure at 30.04 s).
    # Their grace long, they never give way to the call (the next test).
    env = {
        "GRPC_MAX_RECEIVING_CALLS": "3",
        "HTTP_READ_TIMEOUT_SECONDS": "300",
        "RECEIVE_GRACE_SECONDS": "300",
    }
    served = Served(None, 1, env=env)
    target = f"127.0.0.1:{served.grpc_port}"
    request = pb.GenerateRequest(entity="cart", count=1)
    try:
        held = [unfinished_grpc_call(served.grpc_port) for _ in range(3)]
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.TestDataServiceStub(channel)
            refused = refusal(stub, request, "the held calls do not count")
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "(GRPC_MAX_RECEIVING_CALLS is 3)" in (refused.details() or "")
            trailers = dict(refused.trailing_metadata() or ())
            assert trailers.get("grpc-retry-pushback-ms") == "2000"
        for sock, _ in held:
            sock.close()
        with grpc.insecure_channel(target) as channel:
            answered_soon(pb_grpc.TestDataServiceStub(channel), "the closed calls still count")
    finally:
        served.stop()


def test_grpc_calls_long_waiting_for_their_message_give_way_to_a_new_call() -> None:
    # Before: three calls that sent half a message (GRPC_MAX_RECEIVING_CALLS of 3) had every
    # other gRPC call answered RESOURCE_EXHAUSTED until the read timeout ended them, when the
    # same sender could start again. gRPC shows nothing of a message before it is whole, so the
    # call waiting longest, past RECEIVE_GRACE_SECONDS, gives way to a new one.
    env = {"GRPC_MAX_RECEIVING_CALLS": "3", "HTTP_READ_TIMEOUT_SECONDS": "300"}
    served = Served(None, 1, env=env)
    try:
        held = [unfinished_grpc_call(served.grpc_port) for _ in range(3)]
        time.sleep(2.5)  # each past its grace (1 s by default)
        with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
            stub = pb_grpc.TestDataServiceStub(channel)
            answer = stub.GenerateData(pb.GenerateRequest(entity="cart", count=1), timeout=30)
            assert answer.record_count == 1
        ended = [status_within(sock, h2, 3) for sock, h2 in held]
        gave_way = [trailers for trailers in ended if trailers is not None]
        assert len(gave_way) == 1, ended  # the room of one call was wanted: one gave way
        assert gave_way[0][b"grpc-status"] == b"4"  # DEADLINE_EXCEEDED, as a read timeout's
        assert b"gave way to another call" in gave_way[0][b"grpc-message"]
        for sock, _ in held:
            sock.close()
        assert "Traceback" not in served.log()
    finally:
        served.stop()


def status_within(
    sock: socket.socket, h2: H2Connection, seconds: float, closed: str = ""
) -> dict[bytes, bytes] | None:
    """The trailers the connection's first call ends with within ``seconds``, or None (and a
    failure saying ``closed`` if the connection closes first, when given)."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        assert data or not closed, closed
        if not data:
            return None
        for event in h2.receive_data(data):
            headers = dict(getattr(event, "headers", None) or [])
            if getattr(event, "stream_id", 0) == 1 and b"grpc-status" in headers:
                return headers
        sock.sendall(h2.data_to_send())  # pings acknowledged: alive all along
    return None


def grpc_status_of_first_call(sock: socket.socket, h2: H2Connection) -> dict[bytes, bytes]:
    """The trailers the server ends the connection's first call with; fails after 30 s."""
    trailers = status_within(sock, h2, 30, closed="the connection was closed without its status")
    assert trailers is not None, "the unfinished call was held"
    return trailers


# Every service the gRPC port serves, each kind of call.
METHODS = [
    "/testdata.v1.TestDataService/GenerateData",
    "/testdata.v1.TestDataService/GenerateDataStream",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
]


def test_a_grpc_request_not_whole_within_the_read_timeout_is_ended_and_counts_no_more() -> None:
    # Before: a call whose message never finished was held until its connection aged out
    # (GRPC_CONNECTION_AGE_SECONDS + GRPC_CONNECTION_GRACE_SECONDS, 35 minutes), holding one of
    # GRPC_MAX_RECEIVING_CALLS: a few hundred such calls, to any service, kept every other gRPC caller
    # out for as long.
    served = Served(
        None,
        1,
        env={"GRPC_MAX_RECEIVING_CALLS": str(len(METHODS)), "HTTP_READ_TIMEOUT_SECONDS": "1"},
    )
    try:
        held = [call_begun(served.grpc_port, path, HALF_MESSAGE) for path in METHODS]
        for path, (sock, h2) in zip(METHODS, held, strict=True):
            trailers = grpc_status_of_first_call(sock, h2)
            assert trailers[b"grpc-status"] == b"4", (path, trailers)  # DEADLINE_EXCEEDED
            assert b"did not arrive whole within 1 s" in trailers[b"grpc-message"]
        # Their connections still open, the calls no longer count.
        with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
            stub = pb_grpc.TestDataServiceStub(channel)
            answer = stub.GenerateData(pb.GenerateRequest(entity="cart", count=2), timeout=30)
            assert answer.record_count == 2
            chunks = stub.GenerateDataStream(
                pb.GenerateRequest(entity="cart", count=120), timeout=30
            )
            assert sum(chunk.record_count for chunk in chunks) == 120
            assert stub.GetSchemas(pb.GetSchemasRequest(), timeout=30).schemas
            health = health_pb2_grpc.HealthStub(channel)
            checked = health.Check(health_pb2.HealthCheckRequest(), timeout=30)
            assert checked.status == health_pb2.HealthCheckResponse.SERVING
        for sock, _ in held:
            sock.close()
        assert "Traceback" not in served.log()
    finally:
        served.stop()


@pytest.mark.parametrize("path", METHODS[:4])
def test_a_grpc_call_that_ends_without_its_message_is_invalid_argument(
    server: Served, path: str
) -> None:
    # Before: never answered.
    sock, h2 = call_begun(server.grpc_port, path, b"")
    with sock:
        trailers = grpc_status_of_first_call(sock, h2)
    assert trailers[b"grpc-status"] == b"3", trailers  # INVALID_ARGUMENT
    assert b"no request message was sent" in trailers[b"grpc-message"]


def test_reflection_and_health_watch_still_stream_as_before(server: Served) -> None:
    # Both are read by the server's own code now (tda_local.grpc_arrival): a client stream of
    # several requests answered one by one, a server stream that yields its answers.
    symbols = ["testdata.v1.TestDataService", "grpc.health.v1.Health"]
    asked = [reflection_pb2.ServerReflectionRequest(list_services="")] + [
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol) for symbol in symbols
    ]
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = list(reflect.ServerReflectionInfo(iter(asked), timeout=30))
        assert len(answers) == 3
        listed = {service.name for service in answers[0].list_services_response.service}
        assert set(symbols) <= listed
        assert all(answer.file_descriptor_response.file_descriptor_proto for answer in answers[1:])
        watched = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(), timeout=30
        )
        assert next(watched).status == health_pb2.HealthCheckResponse.SERVING
        watched.cancel()


def test_a_method_nobody_serves_is_unimplemented(server: Served) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        for path in ("/testdata.v1.TestDataService/Nope", "/grpc.health.v1.Health/Nope"):
            call = channel.unary_unary(path)
            with pytest.raises(grpc.RpcError) as refused:
                call(b"", timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_a_grpc_call_counts_only_while_its_request_is_arriving() -> None:
    # Counted whole, calls kept callers out for as long as they lasted: a client checking its
    # channel's health keeps a Watch open for the channel's life, so GRPC_MAX_RECEIVING_CALLS
    # such clients had every other call refused. And a wait that ends without being counted
    # out would keep callers out for good once the cap's worth of them had happened.
    served = Served(None, 1, env={"GRPC_MAX_RECEIVING_CALLS": "2"})
    request = pb.GenerateRequest(entity="cart", count=1)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
            stub = pb_grpc.TestDataServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            watches = []
            for _ in range(4):  # one by one: begun at once, more than two would wait at once
                watches.append(health.Watch(health_pb2.HealthCheckRequest(), timeout=60))
                assert next(watches[-1]).status == health_pb2.HealthCheckResponse.SERVING
            for _ in range(3):  # each ending of a wait more often than the cap
                assert stub.GenerateData(request, timeout=30).record_count == 1
                with pytest.raises(grpc.RpcError) as invalid:
                    stub.GenerateData(pb.GenerateRequest(entity="cart", count=-1), timeout=30)
                assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                streamed = stub.GenerateDataStream(
                    pb.GenerateRequest(entity="cart", count=3), timeout=30
                )
                assert sum(chunk.record_count for chunk in streamed) == 3
                sock, h2 = call_begun(served.grpc_port, METHODS[0], b"")  # no message
                with sock:
                    assert grpc_status_of_first_call(sock, h2)[b"grpc-status"] == b"3"
                sock, _ = call_begun(served.grpc_port, METHODS[0], HALF_MESSAGE)  # half, then gone
                time.sleep(0.2)
                sock.close()
                answered_soon(stub, "calls no longer waiting still count")
            for w in watches:
                w.cancel()
    finally:
        served.stop()


def test_a_burst_of_calls_on_one_channel_is_answered_none_refused_unavailable(
    server: Served,
) -> None:
    # Before: a connection could have 100 calls open at once (SETTINGS_MAX_CONCURRENT_STREAMS),
    # in the belief that a gRPC client queues the rest itself. grpcio's queued 48 of 150 Watches
    # on one channel behind the 100 open ones until their deadline and had 2 refused
    # (UNAVAILABLE, "Received RST_STREAM with error code 7"); of 250 calls a server took 3 s
    # each on one channel, 114 were refused so. A
    # worker of `tda serve --workers 2` relaying to the primary on one channel had a burst of
    # model-path calls answered so. The process's own caps answer past them, with a pushback.
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        watches = [health.Watch(health_pb2.HealthCheckRequest(), timeout=20) for _ in range(150)]
        try:
            statuses = []
            for watch in watches:
                try:
                    statuses.append(
                        health_pb2.HealthCheckResponse.ServingStatus.Name(next(watch).status)
                    )
                except grpc.RpcError as exc:
                    statuses.append(exc.code().name)
            assert set(statuses) == {"SERVING"}, Counter(statuses)
        finally:
            for watch in watches:
                watch.cancel()


def test_grpc_calls_in_flight_are_bounded_as_a_whole_one_connection_as_many() -> None:
    # Counting only the calls waiting for their request, nothing bounded the rest: 40,000 open
    # Watches on four connections held +840 MB.
    served = Served(None, 1, env={"GRPC_MAX_CALLS": "3"})
    try:
        with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            watches = [health.Watch(health_pb2.HealthCheckRequest(), timeout=60) for _ in range(3)]
            assert all(next(w).status == health_pb2.HealthCheckResponse.SERVING for w in watches)
            stub = pb_grpc.TestDataServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.GenerateData(pb.GenerateRequest(entity="cart", count=1), timeout=30)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "(GRPC_MAX_CALLS is 3)" in (refused.value.details() or "")
            trailers = dict(refused.value.trailing_metadata() or ())
            assert trailers.get("grpc-retry-pushback-ms") == "2000"
            for w in watches:
                w.cancel()
            answered_soon(stub, "ended calls still count")
        # One connection may hold as many calls as the process (HTTP/2's
        # SETTINGS_MAX_CONCURRENT_STREAMS), and one more: the process refuses that one itself.
        sock = socket.create_connection(("127.0.0.1", served.grpc_port), timeout=30)
        with sock:
            h2 = H2Connection(H2Configuration(client_side=True))
            h2.initiate_connection()
            sock.sendall(h2.data_to_send())
            h2.receive_data(sock.recv(65536))
            assert h2.remote_settings.max_concurrent_streams == 4
    finally:
        served.stop()


def test_a_flood_of_invalid_http_is_counted_in_the_log_not_written_line_by_line(
    server: Served,
) -> None:
    # Before: uvicorn wrote "Invalid HTTP request received." for each, as many as a sender of
    # junk cared to make.
    began = time.monotonic()
    for _ in range(40):
        with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            until_closed(sock)
    seconds = time.monotonic() - began
    written, told = logged(server, "Invalid HTTP request received.", 40)
    assert written + told == 40, server.log()[-3000:]
    assert written <= 5 * (int(seconds) + 2), (written, seconds)  # 5 in each second begun
