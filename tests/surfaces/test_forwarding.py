"""A worker's HTTP API (``ForwardToPrimary``) when its primary cannot be reached: what needs no
workflow is still served; what does gets a clear 502, never a hang or a stack trace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest

from tda.http.app import create_app
from tda_local.forwarding import ForwardToPrimary

from ..silent_server import SilentServer


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port  # nothing listens here once the socket is closed


async def calls(app: ForwardToPrimary) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as client:
        return [
            await client.post("/v1/generate", json={"entity": "cart", "count": 3}),
            await client.post("/v1/generate", json={"entity": "nope", "count": 3}),
            await client.post(
                "/v1/generate",
                json={"entity": "cart", "count": 2, "context": "carts for a family moving house"},
            ),
            await client.get("/v1/jobs/job-abc"),
            await client.get("/health/live"),
            await client.get("/v1/schemas"),
        ]


def test_without_its_primary_a_worker_serves_the_fast_path_and_says_what_it_cannot() -> None:
    app = ForwardToPrimary(create_app(), f"http://127.0.0.1:{closed_port()}")
    fast, bad, model, job, live, schemas = asyncio.run(calls(app))
    assert fast.status_code == 200 and fast.json()["record_count"] == 3
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "entity"
    for relayed in (model, job):
        assert relayed.status_code == 502
        assert "the primary process is unreachable" in relayed.json()["error"]
    assert live.status_code == 200 and schemas.status_code == 200


class PrimaryStoppingMidAnswer(SilentServer):
    """A primary that answers a head announcing 1,000 bytes, sends 10 and closes."""

    def _took(self, connection: socket.socket) -> None:
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + b"x" * 10)
        connection.close()


def test_a_primary_ending_an_answer_mid_body_is_a_logged_line_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before: the relay's RemoteProtocolError escaped the app, a 50-line "Exception in ASGI
    # application" per such answer (seen in a hostile run: the primary dropped a relayed
    # download whose reader had stopped).
    primary = PrimaryStoppingMidAnswer()
    app = ForwardToPrimary(create_app(), primary.url)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "method": "GET", "path": "/v1/jobs/job-abc/chunks/0",
             "raw_path": b"/v1/jobs/job-abc/chunks/0", "query_string": b"", "headers": []}  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="tda.http"):
        asyncio.run(app(scope, receive, send))
    primary.close()
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    body = [m for m in sent if m["type"] == "http.response.body"]
    assert b"".join(m["body"] for m in body) == b"x" * 10
    assert not any(m["more_body"] is False for m in body)  # never marked whole
    assert "the primary ended its answer to GET /v1/jobs/job-abc/chunks/0" in caplog.text


class PrimaryDroppingItsKeptConnection(SilentServer):
    """A primary that answers the first request on a connection, keeps it, and closes it when
    the next request comes: the race of a kept-alive connection the server closes as the
    client reuses it. A new connection is answered again."""

    def _took(self, connection: socket.socket) -> None:
        threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            connection.recv(65536)
            body = b'{"status": "healthy"}'
            head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n\r\n".encode()
            connection.sendall(head + body)
            connection.recv(65536)  # the next request on the kept connection: dropped
            connection.close()


def test_a_read_relayed_on_a_connection_the_primary_just_closed_is_sent_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before: the worker answered the relayed GET /health 502 (seen once in a hostile run).
    # A GET changes nothing: sent again on a new connection, it is answered.
    primary = PrimaryDroppingItsKeptConnection()
    app = ForwardToPrimary(create_app(), primary.url)

    async def twice() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://worker") as client:
            return [await client.get("/health"), await client.get("/health")]

    with caplog.at_level(logging.WARNING, logger="tda.http"):
        first, second = asyncio.run(twice())
    primary.close()
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert second.json() == {"status": "healthy"}
    assert "sent GET /health again" in caplog.text
