"""The model SDKs' HTTP client: theirs, with each answer held to its call's timeout as a whole,
and to MAX_ANSWER_BYTES as it comes.

httpx's timeouts bound each read, not the answer: a server sending a byte every 50 ms kept a
call open for as long as it liked (2.5 minutes past a 6-second deadline, every read quick).
``deadline_transport`` gives the whole answer the request's read timeout (the call timeout the
SDKs are given) from the moment it is sent, and cuts it off, as a read timeout, once that has
passed. ``deadline_client``'s connections also hold every socket read, the headers' too, to
what is left of it (a server dripping its headers held a call 100 s past a 1-second timeout:
httpcore reads them with no hook between reads), those through a proxy the environment names
(``HTTPS_PROXY``) too.

An answer was read whole before it was measured (OpenAI) or parsed (Anthropic): a server gone
wrong made a call hold a gigabyte. It is cut off at MAX_ANSWER_BYTES instead, as it arrives;
gzip is the one encoding asked for, and is inflated here, counted as it grows (httpx inflated
4 MiB of it into 4 GiB before anything could count).
"""

from __future__ import annotations

import functools
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

from tda.domain.text import is_whole_number

MAX_ANSWER_BYTES = 8 << 20  # far above any max_tokens' worth of text


class AnswerTooLargeError(Exception):
    """The answer ran past MAX_ANSWER_BYTES (the SDKs raise their connection error from it)."""


def deadline_client(sdk_default: Any) -> Any:
    """``sdk_default`` (the SDK's ``DefaultHttpxClient``: its timeouts, limits, redirects)
    with its connections, and those through the proxies the environment names, behind a
    DeadlineTransport."""
    import httpx2

    return sdk_default(transport=_bounded(httpx2.HTTPTransport()), mounts=_proxy_mounts())


def _bounded(inner: Any) -> Any:
    pool = getattr(inner, "_pool", None)  # httpx takes no network backend; its pool does
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = _classes()[2](pool._network_backend)
    return deadline_transport(inner)


def _proxy_mounts() -> dict[str, Any]:
    """The proxies ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` name, read
    as httpx reads them, each behind a DeadlineTransport (None: that pattern goes direct).
    httpx reads none for a client given its own transport: calls went around the proxy."""
    import httpx2
    from httpx2._utils import get_environment_proxies  # httpx's own reading, kept exact

    return {
        pattern: None if url is None else _bounded(httpx2.HTTPTransport(proxy=url))
        for pattern, url in get_environment_proxies().items()
    }


def deadline_transport(inner: Any) -> Any:
    """``inner`` (an httpx2 transport) with each answer bounded in time and size."""
    return _classes()[0](inner)


# The deadline of the answer this thread is reading (the SDKs' calls are synchronous: one
# request a thread at a time), for the socket reads under httpcore to see.
_reading = threading.local()


@functools.cache
def _classes() -> tuple[type, type, type]:
    # Made at the first model client: httpx2 is the model SDKs' layer's, and every module of
    # the package imports in the core layer without it (the layer's build imports them all).
    import httpcore2
    import httpx2

    class DeadlineTransport(httpx2.BaseTransport):
        def __init__(self, inner: httpx2.BaseTransport) -> None:
            self._inner = inner

        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            budget = (request.extensions.get("timeout") or {}).get("read")
            request.headers["accept-encoding"] = "gzip"  # the one encoding inflated here
            started = time.monotonic()
            _reading.deadline = started + float(budget) if budget is not None else None
            response = self._inner.handle_request(request)
            length = response.headers.get("content-length", "")
            if is_whole_number(length) and int(length) > MAX_ANSWER_BYTES:  # said: not read at all
                response.close()
                raise AnswerTooLargeError(f"{int(length):,} bytes, more than {MAX_ANSWER_BYTES:,}")
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("identity", "gzip"):
                response.close()
                raise AnswerTooLargeError(f"an encoding it was not asked for ({encoding})")
            deadline = started + float(budget) if budget is not None else float("inf")
            stream = Bounded(response.stream, deadline, request, gzipped=encoding == "gzip")
            stream.check()  # the headers may have taken it all
            if encoding == "gzip":  # inflated by Bounded, counted as it grows: not by httpx
                del response.headers["content-encoding"]
                response.headers.pop("content-length", None)
            response.stream = stream
            return response

        def close(self) -> None:
            self._inner.close()

    class Bounded(httpx2.SyncByteStream):
        def __init__(
            self, inner: Any, deadline: float, request: httpx2.Request, gzipped: bool
        ) -> None:
            self._inner = inner
            self._deadline = deadline
            self._request = request
            self._read = 0
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 16) if gzipped else None

        def check(self) -> None:
            if time.monotonic() > self._deadline:
                self.close()
                raise httpx2.ReadTimeout(
                    "the whole answer took longer than the call's timeout", request=self._request
                )

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self._inner:
                self.check()
                yield self._counted(self._inflated(chunk) if self._inflater else chunk)
            if self._inflater is not None:
                yield self._counted(self._inflater.flush())

        def _inflated(self, chunk: bytes) -> bytes:
            """``chunk`` inflated, never past the room left: 4 MiB of gzip held 4 GiB."""
            assert self._inflater is not None
            room = MAX_ANSWER_BYTES - self._read
            try:
                out = self._inflater.decompress(chunk, room + 1)
            except zlib.error as exc:
                self.close()
                raise AnswerTooLargeError(f"gzip that does not inflate ({exc})") from None
            if len(out) > room or self._inflater.unconsumed_tail:
                self.close()
                raise AnswerTooLargeError(f"more than {MAX_ANSWER_BYTES:,} bytes inflated")
            return out

        def _counted(self, data: bytes) -> bytes:
            self._read += len(data)
            if self._read > MAX_ANSWER_BYTES:
                self.close()
                raise AnswerTooLargeError(f"more than {MAX_ANSWER_BYTES:,} bytes")
            return data

        def close(self) -> None:
            self._inner.close()

    class DeadlineBackend(httpcore2.NetworkBackend):
        """httpcore's sockets, each read and write given no more than the answer has left."""

        def __init__(self, inner: httpcore2.NetworkBackend) -> None:
            self._inner = inner

        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> httpcore2.NetworkStream:
            connected = self._inner.connect_tcp(
                host, port, _left(timeout), local_address, socket_options
            )
            return DeadlineStream(connected)

        def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Any = None
        ) -> httpcore2.NetworkStream:
            connected = self._inner.connect_unix_socket(path, _left(timeout), socket_options)
            return DeadlineStream(connected)

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    class DeadlineStream(httpcore2.NetworkStream):
        def __init__(self, inner: httpcore2.NetworkStream) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            data: bytes = self._inner.read(max_bytes, _left(timeout))
            return data

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, _left(timeout))

        def close(self) -> None:
            self._inner.close()

        def start_tls(
            self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
        ) -> Any:
            return DeadlineStream(
                self._inner.start_tls(ssl_context, server_hostname, _left(timeout))
            )

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    def _left(timeout: float | None) -> float | None:
        deadline = getattr(_reading, "deadline", None)
        if deadline is None:
            return timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise httpcore2.ReadTimeout("the whole answer took longer than the call's timeout")
        return left if timeout is None else min(timeout, left)

    return DeadlineTransport, Bounded, DeadlineBackend
