"""What one HTTP connection may send to `tda serve`, and for how long (tda_local.http_guard).

Raw sockets, because a well-behaved client cannot send what these tests send: a head that does
not end, a body that never comes, 20 KB of headers.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from .test_serve import Served

READ_TIMEOUT_SECONDS = 1
HEAVY = (
    b'{"entity": "user", "count": 1000, '
    b'"constraints": {"field_constraints": {"first_name": {"regex": "(ab|cd){500}"}}}}'
)  # ≈2.6 s of work here: longer than the read timeout


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    served = Served(
        None, 1, "--access-log", env={"HTTP_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT_SECONDS)}
    )
    yield served
    if served.process.poll() is None:
        served.stop()


def connect(server: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.http_port), timeout=30)


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; fails if it keeps the connection 30 s."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the server kept the connection open (received {received[:120]!r})")
    finally:
        sock.close()
    return received


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
    request = (
        b"POST /v1/generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(HEAVY)).encode() + b"\r\n\r\n" + HEAVY
    )
    with connect(server) as sock:
        sock.sendall(request + b"GET /health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        answers = until_closed(sock)
    assert answers.startswith(b"HTTP/1.1 200 ")
    assert answers.count(b"HTTP/1.1 200 ") == 2, answers[-300:]
    assert b'"record_count":1000' in answers
