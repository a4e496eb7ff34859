"""A real grpc.aio shim server on a free loopback port, run in a background thread's loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from grpc_health.v1 import health_pb2

from tda_local.grpc_server import SERVICE_NAME, build_server


@contextmanager
def running_shim() -> Iterator[str]:
    """The shim serving on 127.0.0.1; yields its target (``host:port``)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        server, port, checker = build_server(0)
        await server.start()
        for name in ("", SERVICE_NAME):
            await checker.set(name, health_pb2.HealthCheckResponse.SERVING)
        stopping = asyncio.Event()
        holder.update(port=port, stopping=stopping)
        started.set()
        # Stopped from inside its own loop: a stop() sent from another thread hangs once the
        # aio health servicer has been used (seen with grpcio 1.85).
        await stopping.wait()
        await server.stop(None)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(30), "the gRPC shim did not start"
    try:
        yield f"127.0.0.1:{holder['port']}"
    finally:
        loop.call_soon_threadsafe(holder["stopping"].set)
        thread.join(30)
        assert not thread.is_alive(), "the gRPC shim did not stop"
