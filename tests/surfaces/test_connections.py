"""What one HTTP connection may send to `tda serve`, and for how long (tda_local.http_guard);
what answers nobody takes may hold, on either transport (tda.app.unsent_answers).

Raw sockets, because a well-behaved client cannot send what these tests send: a head that does
not end, a body that never comes, 20 KB of headers.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.json_format import Parse
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import PingReceived, ResponseReceived
from h2.exceptions import ProtocolError

from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc

from .hostile_requests import COSTLY_REGEX, LARGE_ANSWER
from .test_hostile import grpc_call
from .test_serve import Served, finished, until_closed

READ_TIMEOUT_SECONDS = 1
STALL_SECONDS = 2
# ≈1.3 s of work here, longer than the read timeout: names from the costliest regex to draw,
# and 10,000-character surnames.
HEAVY = json.dumps({"entity": "user", "count": 1000, "constraints": {"field_constraints": {
    "first_name": {"regex": COSTLY_REGEX}, "last_name": {"min_length": 10_000}}}}).encode()  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    served = Served(
        None,
        1,
        "--access-log",
        env={
            "HTTP_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT_SECONDS),
            "STREAM_STALL_SECONDS": str(STALL_SECONDS),
            "JOB_CHUNK_RECORDS": "10000",
        },
    )
    yield served
    if served.process.poll() is None:
        served.stop()


def connect(server: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.http_port), timeout=30)


def json_post(path: str, body: bytes) -> bytes:
    """A whole HTTP/1.1 POST of the JSON ``body`` to ``path``."""
    head = f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


def head_with_headers(size: int) -> bytes:
    line = b"x-padding: " + b"p" * 989 + b"\r\n"  # 1,000 bytes with its CRLF
    return (
        b"GET /health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
        + line * (size // 1000)
        + b"\r\n"
    )


def answered(server: Served, line: str) -> str:
    """The server's log once ``line`` is in it (a call is logged when it has ended)."""
    deadline = time.monotonic() + 30
    while line not in server.log():
        assert time.monotonic() < deadline, f"no {line!r} in the log:\n{server.log()[-2000:]}"
        time.sleep(0.05)
    return server.log()


def test_a_request_head_over_16_kib_is_refused_with_431_not_buffered(server: Served) -> None:
    # Before: 300 MB of headers were buffered (RSS +300 MB) and answered 200.
    with connect(server) as sock:
        sock.sendall(head_with_headers(20_000))
        assert until_closed(sock).startswith(b"HTTP/1.1 431 ")
    with connect(server) as sock:
        sock.sendall(head_with_headers(15_000))  # a large head within the limit is served
        assert until_closed(sock).startswith(b"HTTP/1.1 200 ")


def test_a_head_that_never_ends_is_answered_408_and_closed(server: Served) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /v1/generate HTTP/1.1\r\nhost: x\r\nx-slow: ")
        answer = until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"did not arrive whole within 1 s" in answer


def test_a_connection_that_sends_nothing_is_closed(server: Served) -> None:
    with connect(server) as sock:
        assert until_closed(sock) == b""


def test_a_body_that_never_comes_closes_its_connection_and_logs_no_traceback(
    server: Served,
) -> None:
    with connect(server) as sock:
        sock.sendall(
            b"POST /v1/generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 1000\r\n\r\n" + b'{"entity": '
        )
        assert until_closed(sock) == b""  # nobody is left to read an answer
    log = answered(server, "POST /v1/generate 400")
    assert "Traceback" not in log and "Exception in ASGI application" not in log


def test_a_client_leaving_mid_body_logs_no_traceback(server: Served) -> None:
    # Before: a 66-line "Exception in ASGI application" traceback per such connection.
    with connect(server) as sock:
        sock.sendall(
            b"POST /v1/jobs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 1000\r\n\r\n" + b'{"entity": '
        )
    answered(server, "POST /v1/jobs 400")
    # Logged after the call's own line, if at all: a later call's line shows it was not.
    with connect(server) as sock:
        sock.sendall(b"GET /after-leaving HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        assert until_closed(sock).startswith(b"HTTP/1.1 404 ")
    log = answered(server, "GET /after-leaving 404")
    assert "Traceback" not in log and "Exception in ASGI application" not in log


def test_the_time_the_service_takes_to_answer_is_not_the_senders(server: Served) -> None:
    # The heavy request and a pipelined one behind it: neither arrives late, both are answered
    # although the first takes longer than the read timeout.
    request = json_post("/v1/generate", HEAVY)
    with connect(server) as sock:
        sock.sendall(request + b"GET /health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        answers = until_closed(sock)
    assert answers.startswith(b"HTTP/1.1 200 ")
    assert answers.count(b"HTTP/1.1 200 ") == 2, answers[-300:]
    assert b'"record_count":1000' in answers


@pytest.fixture(scope="module")
def order_chunk(server: Served) -> str:
    """The path of a 10K-order chunk (≈10 MB): more than the socket buffers on both sides."""
    return f"/v1/jobs/{order_job(server, seed=3)}/chunks/0"


def order_job(server: Served, seed: int) -> str:
    """The id of a job of 10K orders (one chunk), once it has succeeded."""
    submitted = server.http.post(
        "/v1/jobs", json={"entity": "order", "count": 10_000, "seed": seed}
    )
    job_id: str = submitted.json()["job_id"]
    assert finished(server, job_id)["status"] == "SUCCEEDED"
    return job_id


def asked_for(
    server: Served, path: str, body: bytes | None = None
) -> tuple[socket.socket, int, bytes]:
    """A connection with a small receive buffer that asked for ``path`` (a GET, or a POST of
    JSON ``body``): it, the answer's length, and the body's first bytes (whatever came with
    the head)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", server.http_port))
    if body is None:
        sock.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
    else:
        sock.sendall(json_post(path, body))
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(4096)
    head, first = received.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 "), head
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return sock, length, first


def test_an_answer_its_reader_stops_taking_is_dropped_not_held(
    server: Served, order_chunk: str
) -> None:
    # Before: 20 connections that asked for a 10K-order chunk and read nothing held ≈10 MB
    # each in the server for good (RSS +190 MB, 100 s later still held).
    sock, length, body = asked_for(server, order_chunk)
    time.sleep(STALL_SECONDS * 4)  # takes nothing: the server gives up on it meanwhile
    try:
        while chunk := sock.recv(1 << 20):
            body += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    assert len(body) < length  # what the kernel held came, the rest was dropped
    log = answered(server, "dropped an answer its reader took less than 64 KiB of in 2 s")
    assert "Traceback" not in log and "Exception in ASGI application" not in log


def test_a_reader_taking_a_trickle_is_dropped_as_one_taking_nothing(
    server: Served, order_chunk: str
) -> None:
    # Before: a reader taking 1 KB every half second (4 KB a stall period) shrank what the
    # connection held, so it counted as reading and could hold a 10 MB answer for hours: a
    # few such connections kept the whole MAX_UNSENT_BYTES from everyone. Now each period must
    # take at least 64 KiB, or what is left.
    sock, length, body = asked_for(server, order_chunk)
    started = time.monotonic()
    try:
        while time.monotonic() - started < STALL_SECONDS * 6:
            piece = sock.recv(1000)
            if not piece:
                break
            body += piece
            time.sleep(0.5)
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    assert len(body) < length
    answered(server, "dropped an answer its reader took less than 64 KiB of in 2 s")


def test_an_answer_read_slowly_but_steadily_comes_whole(server: Served, order_chunk: str) -> None:
    sock, length, body = asked_for(server, order_chunk)
    with sock:
        while len(body) < length:  # ≈2 MB/s: longer in all than STALL_SECONDS
            taken = len(body)
            while len(body) < min(length, taken + 512 * 1024):
                piece = sock.recv(65536)
                assert piece, f"dropped after {len(body):,} of {length:,} bytes"
                body += piece
            time.sleep(0.25)
    assert len(body) == length and json.loads(body)


def resident_mb(server: Served) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return (
        int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
        / 1024
    )


def test_downloads_nobody_reads_hold_a_piece_each_not_their_chunk(
    server: Served, order_chunk: str
) -> None:
    # Before: a chunk was read whole and handed to the connection: 40 downloads of a 10K-order
    # chunk (11 MB) that read nothing held 40 copies of it until the stall ended them.
    before = resident_mb(server)
    downloads = [asked_for(server, order_chunk) for _ in range(40)]
    grown = resident_mb(server) - before
    for sock, _, _ in downloads:
        sock.close()
    assert grown < 100, f"the server grew {grown:.0f} MB for 40 downloads nobody reads"


def test_a_download_begun_before_its_job_is_removed_comes_whole(server: Served) -> None:
    job_id = order_job(server, seed=4)
    sock, length, received = asked_for(server, f"/v1/jobs/{job_id}/chunks/0")
    with sock:
        removal = server.http.delete(f"/v1/jobs/{job_id}", params={"purge": "true"})
        assert removal.json()["removed"] is True
        while len(received) < length and (piece := sock.recv(1 << 20)):
            received += piece
    assert len(received) == length and json.loads(received)


def test_a_server_holding_answers_nobody_takes_makes_no_more_until_they_are_taken() -> None:
    # Before: sixty connections that asked for LARGE_ANSWER and read nothing took the server
    # from 0.5 to 2.1 GB in 12 s, held until each stalled (60 s); a few hundred took the
    # machine. Now past MAX_UNSENT_BYTES held, a request not answered on the loop is refused
    # at once on both transports; a small one is still answered.
    served = Served(None, 1, env={"MAX_UNSENT_BYTES": str(40 << 20)})
    held: list[socket.socket] = []
    try:
        for _ in range(2):
            held.append(asked_for(served, "/v1/generate", json.dumps(LARGE_ANSWER).encode())[0])
        refused = served.http.post("/v1/generate", json=LARGE_ANSWER)
        assert refused.status_code == 429, refused.text[:300]
        assert "not yet taken by their callers" in refused.json()["error"]
        assert refused.headers["retry-after"] == "2"
        over_grpc = grpc_call(served, LARGE_ANSWER)
        assert isinstance(over_grpc, grpc.RpcError)
        assert over_grpc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        small = served.http.post("/v1/generate", json={"entity": "cart", "count": 5})
        assert small.status_code == 200 and small.json()["record_count"] == 5
        while held:
            held.pop().close()  # what they held is let go: the next large answer is made
        deadline = time.monotonic() + 30
        while (again := served.http.post("/v1/generate", json=LARGE_ANSWER)).status_code == 429:
            assert time.monotonic() < deadline, again.text
            time.sleep(0.2)
        assert again.status_code == 200 and again.json()["record_count"] == 1000
    finally:
        for sock in held:
            sock.close()
        served.stop()


def statuses_of_asking_at_once(server: Served, body: bytes, callers: int) -> list[int]:
    """The HTTP statuses of ``callers`` connections that send ``body`` to /v1/generate at the
    same moment and read no further than their answer's status line (closed on return)."""
    socks = [connect(server) for _ in range(callers)]
    for sock in socks:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    post = json_post("/v1/generate", body)
    try:
        for sock in socks:
            sock.sendall(post)
        heads = []
        for sock in socks:
            received = b""
            while b"\r\n" not in received:
                received += sock.recv(4096)
            heads.append(int(received.split(b" ")[1]))
        return sorted(heads)
    finally:
        for sock in socks:
            sock.close()


def test_answers_asked_for_at_the_same_moment_count_while_they_are_made() -> None:
    # Before: each request found nothing held when admitted, so four arriving together were
    # all made (120 MB held against a bound of 20 MiB); the heavy queue admits eight at once,
    # 256 MiB over the bound. Now an answer is counted at its estimated size from admission.
    served = Served(None, 1, env={"MAX_UNSENT_BYTES": str(20 << 20)})
    try:
        body = json.dumps(LARGE_ANSWER).encode()
        assert statuses_of_asking_at_once(served, body, 4) == [200, 429, 429, 429]
    finally:
        served.stop()


def grpc_asked_without_reading(
    server: Served, method: str, body: dict[str, object]
) -> socket.socket:
    """A raw HTTP/2 connection that called ``method`` with ``body`` and, once its answer began,
    reads nothing more: no window update, no ping acknowledged."""
    message = Parse(json.dumps(body), pb.GenerateRequest()).SerializeToString()
    sock = socket.create_connection(("127.0.0.1", server.grpc_port), timeout=30)
    h2 = H2Connection(H2Configuration(client_side=True))
    h2.initiate_connection()
    stream = h2.get_next_available_stream_id()
    path = f"/testdata.v1.TestDataService/{method}"
    h2.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":path", path),
                             (":authority", "x"), ("content-type", "application/grpc"),
                             ("te", "trailers")])  # fmt: skip
    h2.send_data(stream, b"\0" + len(message).to_bytes(4, "big") + message, end_stream=True)
    sock.sendall(h2.data_to_send())
    while not any(
        isinstance(event, ResponseReceived) for event in h2.receive_data(sock.recv(65536))
    ):
        pass
    return sock


def streamed(server: Served, body: dict[str, object]) -> grpc.RpcError | int:
    """The records a GenerateDataStream call of ``body`` brought, or its error."""
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.TestDataServiceStub(channel)
        request = Parse(json.dumps(body), pb.GenerateRequest())
        try:
            return sum(chunk.record_count for chunk in stub.GenerateDataStream(request, timeout=60))
        except grpc.RpcError as exc:
            return exc


@pytest.mark.parametrize("method", ["GenerateData", "GenerateDataStream"])
def test_grpc_answers_nobody_takes_count_and_their_connection_is_let_go(method: str) -> None:
    # Before: forty GenerateData calls for LARGE_ANSWER on connections that read nothing took
    # the server 3.5 GB more, for good (gRPC pings a connection after two hours); forty such
    # streams 1.4 GB, each holding its range for a minute. Now what they hold counts against
    # MAX_UNSENT_BYTES, and a connection that acknowledges no ping for STREAM_STALL_SECONDS is
    # closed, its answers with it.
    served = Served(None, 1, env={"MAX_UNSENT_BYTES": str(20 << 20), "STREAM_STALL_SECONDS": "2"})
    call = grpc_call if method == "GenerateData" else streamed
    try:
        with grpc_asked_without_reading(served, method, LARGE_ANSWER) as held:
            refused = call(served, LARGE_ANSWER)
            assert isinstance(refused, grpc.RpcError)
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "not yet taken by their callers" in str(refused.details())
            assert served.http.post("/v1/generate", json=LARGE_ANSWER).status_code == 429
            held.settimeout(30)
            with contextlib.suppress(ConnectionResetError):
                while held.recv(65536):
                    pass  # what the kernel holds, then the end: the server closed it
        answered = call(served, LARGE_ANSWER)
        count = answered if isinstance(answered, int) else getattr(answered, "record_count", 0)
        assert count == 1000, answered
    finally:
        served.stop()


def test_sigterm_ends_the_server_within_its_grace_though_an_answer_is_left_unread() -> None:
    # Before: one connection that asked for LARGE_ANSWER and read nothing kept a stopped server
    # running until the stall dropped it (here ten minutes), past the grace every in-flight
    # call is given; a reader taking a byte now and then, for good.
    served = Served(None, 1, env={"STREAM_STALL_SECONDS": "600", "SHUTDOWN_GRACE_SECONDS": "2"})
    try:
        sock, _, _ = asked_for(served, "/v1/generate", json.dumps(LARGE_ANSWER).encode())
        with sock:
            assert served.stop() == 0  # within a minute
        log = served.log()
        assert "closed 1 HTTP connection(s) still sending an answer after 2 s" in log
        # uvicorn's own line for it was an ERROR ("Cancel 0 running task(s), timeout graceful
        # shutdown exceeded"): a stop the server meant to make is no error.
        assert "Traceback" not in log and "ERROR" not in log, log
    finally:
        served.process.kill()


def call_begun(port: int, path: str, sent: bytes) -> tuple[socket.socket, H2Connection]:
    """An HTTP/2 connection with one call to ``path`` that sent ``sent`` (within the first
    window) and no more; its stream ended if ``sent`` is empty."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    h2 = H2Connection(H2Configuration(client_side=True))
    h2.initiate_connection()
    h2.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", path),
                        (":authority", "x"), ("content-type", "application/grpc"),
                        ("te", "trailers")], end_stream=not sent)  # fmt: skip
    for start in range(0, len(sent), h2.max_outbound_frame_size):
        h2.send_data(1, sent[start : start + h2.max_outbound_frame_size])
    sock.sendall(h2.data_to_send())
    return sock, h2


def unfinished_grpc_call(port: int) -> tuple[socket.socket, H2Connection]:
    """An HTTP/2 connection with a GenerateData call whose message is declared 100,000 bytes
    and sent 50,000 of: gRPC waits for the rest."""
    sent = b"\0" + (100_000).to_bytes(4, "big") + b"\n" * 50_000
    return call_begun(port, "/testdata.v1.TestDataService/GenerateData", sent)


def test_a_grpc_request_never_finished_is_cut_off_though_its_peer_answers_pings() -> None:
    # Before: a peer that answered keepalive pings could hold an unfinished request, and what
    # it had sent of it (up to MAX_REQUEST_BYTES), for as long as it liked (100 such: 200 MB).
    age, grace = 1, 2
    served = Served(
        None,
        1,
        env={
            "GRPC_CONNECTION_AGE_SECONDS": str(age),
            "GRPC_CONNECTION_GRACE_SECONDS": str(grace),
            "STREAM_STALL_SECONDS": "1",  # pings every second, each answered below
        },
    )
    try:
        sock, h2 = unfinished_grpc_call(served.grpc_port)
        started, pings_answered = time.monotonic(), 0
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                with contextlib.suppress(ProtocolError):  # frames after the GOAWAY
                    events = h2.receive_data(chunk)
                    pings_answered += sum(isinstance(e, PingReceived) for e in events)
                    sock.sendall(h2.data_to_send())  # the acknowledgements
                assert time.monotonic() - started < 30, "the unfinished call was held"
        sock.close()
        assert pings_answered >= 1  # alive all along, as far as pings could tell
        # A client's channel goes on across the server's GOAWAYs: it reconnects by itself.
        with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
            stub = pb_grpc.TestDataServiceStub(channel)
            for _ in range(2):
                assert stub.GetSchemas(pb.GetSchemasRequest(), timeout=30).schemas
                time.sleep(age + 0.5)
    finally:
        served.stop()
