"""What an HTTP connection to ``tda serve`` may send before its request is whole, and for how long.

uvicorn's httptools protocol takes a request head of any size and waits for a request for as long
as its sender likes. Tried against ``tda serve``: 300 MB of headers on one connection were
buffered (RSS +300 MB) and answered 200; 3,000 connections that never finished a request (a head
sent a line a second, a body declared and never sent, nothing at all) all stayed open, each
holding a socket until the process runs out. In AWS, API Gateway refuses both; locally the
server does:

- a head (request line and headers) above ``MAX_HEAD_BYTES``: 431, and the connection closed;
- a request not whole ``HTTP_READ_TIMEOUT_SECONDS`` after its first byte (or after the
  connection opened, for one that sends nothing): an unfinished head is answered 408 and its
  connection closed; an unfinished body's connection is closed, so the route reading it sees
  the client gone. Waiting on the service's own answer never counts.
- an answer its reader stops taking: while the connection's write buffer is over its high-water
  mark, what it holds unsent (that buffer and the kernel's send queue) must shrink by
  ``MIN_PROGRESS_BYTES`` (or to nothing) every ``STREAM_STALL_SECONDS``, or the connection is
  dropped with it: a reader taking a byte now and then is one taking nothing. Before, 20
  connections that asked for a 10K-order chunk and read nothing held ≈10 MB each for good: a
  whole answer is handed to the transport at once, the call is over for uvicorn, and closing a
  transport waits for its buffer to be sent.
- what requests not yet whole may hold: from its head until it is whole, a request's body
  counts against the process's ``MAX_RECEIVING_BYTES`` at its declared length (at
  ``MAX_REQUEST_BYTES``, the most it may be, if it declares none). A request whose body would
  take the count past it is answered 429 with Retry-After at its head, and its connection
  closed: before, 400 connections each sending half of a 1 MB body held +340 MB until the read
  timeout, and as many more as anyone opened. A request without a body is never refused.
  Before it is refused, bodies far behind pace give way to it (``_make_room``): a body
  ``RECEIVE_GRACE_SECONDS`` (1) old must have come at ``MIN_RECEIVE_BYTES_PER_SECOND`` since, or
  its connection is closed when the room it holds is wanted. Before, three connections that
  declared 1 MB and sent ten bytes held the whole count, and every other POST got 429 until
  the read timeout, when the same sender could start again.
- what all of a process's connections hold unsent is counted (``unsent_bytes``): past
  ``MAX_UNSENT_BYTES`` the process makes no more answers off its loop until callers take theirs
  (``tda.app.unsent_answers``), since one answer is up to 32 MiB and a stall takes a minute.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import sys
import termios
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tda.app.busy import RETRY_AFTER_SECONDS
from tda.app.environment import read_float, read_int
from tda.app.settings import settings

log = logging.getLogger("tda.http")

OUTQ = getattr(termios, "TIOCOUTQ", None)  # a TCP socket's unsent bytes (Linux: SIOCOUTQ)

# What a reader must take of an answer each STREAM_STALL_SECONDS (60 by default: ≈1 KB/s, far
# below any real client). Before, any progress counted: 1 KB every half second held a 10 MB
# answer for hours, and a few such readers held MAX_UNSENT_BYTES from everyone.
MIN_PROGRESS_BYTES = 64 * 1024

# A body is "behind" once it has had RECEIVE_GRACE_SECONDS and has come slower than this since:
# it gives way to a request the count would otherwise refuse. 64 KiB/s is 0.5 Mbit/s, far below
# any client sending in earnest, and makes holding the count cost a sender what it holds.
MIN_RECEIVE_BYTES_PER_SECOND = 64 * 1024

# API Gateway's HTTP API allows 10,240 bytes of request line and headers; this is uvicorn's own
# h11 limit, 16 KiB.
MAX_HEAD_BYTES = 16 * 1024


def read_timeout_seconds() -> float:
    """How long a request may take to arrive whole (API Gateway's whole budget is 30 s)."""
    return read_float("HTTP_READ_TIMEOUT_SECONDS")


# Connections whose answer is over their buffer's high-water mark: the HTTP thread adds and
# removes them, other threads read what they hold (``list`` copies a set under the GIL).
_holding: set[GuardedHttpProtocol] = set()


# Bytes of request bodies this process's connections are receiving (their declared lengths),
# and the connections receiving them. Only the HTTP thread changes them.
_receiving = 0
_receivers: set[GuardedHttpProtocol] = set()


def unsent_bytes() -> int:
    """Answer bytes this process's HTTP connections hold that their readers have not taken."""
    return sum(held.transport.get_write_buffer_size() for held in list(_holding))


def _answer(status: bytes, message: str) -> bytes:
    return _whole(status, b"text/plain; charset=utf-8", message.encode())


def _busy(message: str) -> bytes:
    """A 429 as the service's own (``tda.http.responses``): JSON, with Retry-After."""
    body = orjson.dumps({"success": False, "error": message})
    retry = f"retry-after: {RETRY_AFTER_SECONDS}\r\n".encode()
    return _whole(b"429 Too Many Requests", b"application/json", body, retry)


def _whole(status: bytes, content_type: bytes, body: bytes, headers: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: " + content_type + b"\r\n" + headers
        + b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n"
        + body
    )  # fmt: skip


def _body_at_most(headers: list[tuple[bytes, bytes]]) -> int:
    """The most a request's body may hold by its (lower-cased) headers: its declared length, or
    MAX_REQUEST_BYTES (the route refuses more) for a chunked one or a length not understood."""
    declared = [value for name, value in headers if name == b"content-length"]
    chunked = any(name == b"transfer-encoding" for name, _ in headers)
    if not declared and not chunked:
        return 0
    if len(declared) == 1 and declared[0].strip().isdigit() and not chunked:
        return min(int(declared[0]), settings.max_request_bytes)
    return settings.max_request_bytes


def _make_room(wanted: int, now: float) -> bool:
    """Close the connections of bodies furthest behind pace until ``wanted`` bytes of the count
    are free; none is closed, and False, if those behind do not hold that much."""
    lags = [(lag, held) for held in _receivers if (lag := held._behind(now))]
    behind = [held for _, held in sorted(lags, key=lambda pair: pair[0], reverse=True)]
    if sum(held._receiving for held in behind) < wanted:
        return False
    for held in behind:
        if wanted <= 0:
            break
        wanted -= held._receiving
        held._give_way()
    return True


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on each request's head and on its arrival."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timeout = read_timeout_seconds()
        self._deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_begun = False  # a request's first byte came and its head is not whole yet
        self._refused = False  # the request is refused: nothing more is parsed
        self._refusal = b""  # what it is answered before the connection closes
        self._max_receiving = read_int("MAX_RECEIVING_BYTES")
        self._grace = read_float("RECEIVE_GRACE_SECONDS")
        self._receiving = 0  # what this connection's request adds to ``_receiving``
        self._body_began = 0.0  # when its head was whole (the loop's clock)
        self._body_bytes = 0  # what of its body has come
        # The period in which an answer's reader must take MIN_PROGRESS_BYTES (a gRPC stream's
        # stall), read once.
        self._stall = settings.stream_stall_seconds
        self._stall_check: asyncio.TimerHandle | None = None
        self._unsent = 0  # what the connection held unsent at the last check

    # The connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._received()
        self._stop_watching_reader()
        _holding.discard(self)
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        _holding.add(self)
        self._unsent = self._unsent_bytes()
        self._watch_reader()

    def resume_writing(self) -> None:
        self._stop_watching_reader()
        _holding.discard(self)
        super().resume_writing()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._refused:
            self._disarm()
            self._received()
            self._head_begun = False
            self.transport.write(self._refusal)
            # Half-closed, and what the client still sends dropped until it closes, or for the
            # read timeout: closed at once with bytes unread, the connection is reset, and the
            # answer lost with it.
            self.transport.write_eof()
            self._arm()

    # The parser's calls, for one request after another

    def on_message_begin(self) -> None:
        if self._refused:
            return
        self._head_bytes = 0
        self._head_begun = True
        self._arm()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if self._counted(len(url)):
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._counted(len(name) + len(value) + 4):  # ": " and CRLF
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._head_begun = False
        if self._receives(_body_at_most(self.headers)):
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            self._body_bytes += len(body)
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._disarm()
        self._received()
        super().on_message_complete()

    def _counted(self, size: int) -> bool:
        """Whether the head is still within its limit with ``size`` more bytes."""
        self._head_bytes += size
        if not self._refused and self._head_bytes > MAX_HEAD_BYTES:
            limit = f"the request head is over {MAX_HEAD_BYTES} bytes"
            self._refuse(_answer(b"431 Request Header Fields Too Large", limit))
        return not self._refused

    def _refuse(self, answer: bytes) -> None:
        self._refused, self._refusal = True, answer

    # What the request's body may hold until it is whole

    def _receives(self, size: int) -> bool:
        """Whether the process takes a body of up to ``size`` more bytes now (counted if so)."""
        global _receiving
        if (
            size
            and _receiving + size > self._max_receiving
            and not _make_room(_receiving + size - self._max_receiving, self.loop.time())
        ):
            busy = (
                f"this server is receiving as many request bytes as it takes "
                f"(MAX_RECEIVING_BYTES is {self._max_receiving}); retry in "
                f"{RETRY_AFTER_SECONDS} s"
            )
            self._refuse(_busy(busy))
            return False
        self._receiving = size
        _receiving += size
        if size:
            self._body_began, self._body_bytes = self.loop.time(), 0
            _receivers.add(self)
        return True

    def _received(self) -> None:
        """The request is whole, refused or gone: what its body held counts no more."""
        global _receiving
        _receiving -= self._receiving
        self._receiving = 0
        _receivers.discard(self)

    def _behind(self, now: float) -> int:
        """How many bytes its body is behind pace at ``now`` (0: on pace, or in its grace)."""
        due = (now - self._body_began - self._grace) * MIN_RECEIVE_BYTES_PER_SECOND
        return max(0, int(due) - self._body_bytes)

    def _give_way(self) -> None:
        """Close the connection: its body is too slow to keep the room it holds."""
        log.warning(
            "%s: a request body gave way to another (%d of %d bytes in %.1f s, under %d KiB/s)",
            "{}:{}".format(*self.client) if self.client else "a connection",
            self._body_bytes,
            self._receiving,
            self.loop.time() - self._body_began,
            MIN_RECEIVE_BYTES_PER_SECOND // 1024,
        )
        self._received()
        self._disarm()
        self.transport.close()  # the route reading the body sees its client gone

    # The reader

    def _watch_reader(self) -> None:
        if self._stall_check is None:
            self._stall_check = self.loop.call_later(self._stall, self._reader_checked)

    def _stop_watching_reader(self) -> None:
        if self._stall_check is not None:
            self._stall_check.cancel()
            self._stall_check = None

    def _reader_checked(self) -> None:
        self._stall_check = None
        if not self.transport.get_write_buffer_size():
            return  # all of it went (the transport does not always say it may write again)
        unsent = self._unsent_bytes()
        if unsent <= max(0, self._unsent - MIN_PROGRESS_BYTES):  # slow, but taking
            self._unsent = unsent
            self._watch_reader()
            return
        log.warning(
            "%s: dropped an answer its reader took less than %d KiB of in %g s "
            "(STREAM_STALL_SECONDS), %d bytes unsent",
            "{}:{}".format(*self.client) if self.client else "a connection",
            MIN_PROGRESS_BYTES // 1024,
            self._stall,
            unsent,
        )
        self.transport.abort()

    def _unsent_bytes(self) -> int:
        """What the connection holds unsent: its buffer here and the kernel's send queue. The
        queue counted too, a reader taking slower than the queue's few MB a period is seen
        taking (counted alone, the buffer here does not shrink until the queue has room)."""
        unsent = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        if OUTQ is not None and sock is not None:
            try:
                queued = fcntl.ioctl(sock.fileno(), OUTQ, b"\0\0\0\0")
                unsent += int.from_bytes(queued, sys.byteorder, signed=True)
            except OSError:
                pass
        return unsent

    # The deadline

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self._timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self.pipeline or (cycle and not cycle.response_complete and not cycle.more_body):
            # A whole request waits on its answer (a pipelined one's reading is paused
            # meanwhile): that is the service's time, not the sender's.
            self._arm()
            return
        if self._head_begun:
            late = f"the request did not arrive whole within {self._timeout:g} s"
            self.transport.write(_answer(b"408 Request Timeout", late))
        self.transport.close()
