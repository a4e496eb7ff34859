"""The model SDKs' HTTP client: theirs, with each answer held to its call's timeout as a whole.

httpx's timeouts bound each read, not the answer: a server sending a byte every 50 ms kept a
call open for as long as it liked (2.5 minutes past a 6-second deadline, every read quick).
``DeadlineTransport`` gives the whole answer the request's read timeout (the call timeout the
SDKs are given) from the moment it is sent, and cuts it off, as a read timeout, once that has
passed. A server dripping its headers is bounded only once they are in (httpcore reads them
with no hook between reads), and a connection through a proxy from the environment
(``HTTPS_PROXY``: httpx mounts a transport of its own) keeps httpx's per-read bound.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2


class DeadlineTransport(httpx2.BaseTransport):
    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        budget = (request.extensions.get("timeout") or {}).get("read")
        started = time.monotonic()
        response = self._inner.handle_request(request)
        if budget is None:
            return response
        deadline = started + float(budget)
        stream = _Deadlined(response.stream, deadline, request)
        stream.check()  # the headers may have taken it all
        response.stream = stream
        return response

    def close(self) -> None:
        self._inner.close()


class _Deadlined(httpx2.SyncByteStream):
    def __init__(self, inner: Any, deadline: float, request: httpx2.Request) -> None:
        self._inner = inner
        self._deadline = deadline
        self._request = request

    def check(self) -> None:
        if time.monotonic() > self._deadline:
            self.close()
            raise httpx2.ReadTimeout(
                "the whole answer took longer than the call's timeout", request=self._request
            )

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self.check()
            yield chunk

    def close(self) -> None:
        self._inner.close()


def deadline_client(sdk_default: type[httpx2.Client]) -> httpx2.Client:
    """``sdk_default`` (the SDK's ``DefaultHttpxClient``: its timeouts, limits, redirects)
    with its connections behind a DeadlineTransport."""
    return sdk_default(transport=DeadlineTransport(httpx2.HTTPTransport()))
