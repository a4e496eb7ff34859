"""Each transport of ``tda serve`` on an event loop of its own: HTTP load cannot starve gRPC.

On one shared loop, 25 HTTP clients took gRPC's p99 from 40 ms to seconds (grpc.aio accepts
one call per round trip through the loop). Timing is for bench/bench_serve.py (its mixed
rows); this test holds the structure: while an HTTP handler holds its loop, gRPC still answers.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import httpx

from tda_local.grpc_server import build_server
from tda_local.lambdas import invoke
from tda_local.serve import _http_socket, _Running
from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc

HOLD_SECONDS = 5.0
API_HEALTH = json.loads((Path(__file__).parents[1] / "events" / "api_health.json").read_text())


async def loop_holding_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app whose one route keeps its event loop busy, as a CPU-bound handler would."""
    if scope["type"] != "http":
        return
    time.sleep(HOLD_SECONDS)  # deliberately blocking: the loop can do nothing else meanwhile
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


def test_grpc_answers_while_an_http_handler_holds_its_loop() -> None:
    async def scenario() -> tuple[float, float]:
        grpc_server, port, checker = build_server(0)
        http_socket = _http_socket("127.0.0.1", 0, reuse_port=False)
        running = await _Running.start(grpc_server, checker, loop_holding_app, [http_socket])
        base = f"http://127.0.0.1:{http_socket.getsockname()[1]}"
        finished: dict[str, float] = {}

        def hold() -> None:
            httpx.get(base, timeout=60)
            finished["http"] = time.monotonic()

        holder = threading.Thread(target=hold)
        holder.start()
        await asyncio.sleep(0.5)  # the HTTP handler is now holding its loop
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = await pb_grpc.TestDataServiceStub(channel).GetSchemas(
                pb.GetSchemasRequest(), timeout=60
            )
        answered = time.monotonic()
        assert len(answer.schemas) >= 6
        await asyncio.to_thread(holder.join)
        await running.stop()
        return answered, finished["http"]

    grpc_answered, http_finished = asyncio.run(scenario())
    assert grpc_answered < http_finished, "gRPC waited for the HTTP handler to let go of a loop"
    # A server's drain is its own: the handlers of this process, other servers' too, stay healthy.
    health = invoke("api", {**API_HEALTH, "rawPath": "/health"})
    assert json.loads(health["body"])["status"] == "healthy"
