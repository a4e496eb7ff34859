"""``tda serve``: the gRPC shim and the HTTP API in one process, on one event loop.

SIGTERM or SIGINT starts a graceful shutdown: health turns NOT_SERVING, new calls are refused,
in-flight calls (streams included) get ``GRACE_SECONDS`` to finish, then the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import signal
import sys
from collections.abc import Iterator

import uvicorn
from grpc_health.v1 import health_pb2

from tda.http_api import create_app
from tda_local import lambdas
from tda_local.grpc_server import SERVICE_NAME, build_server
from tda_local.workflows import LocalWorkflows

GRACE_SECONDS = 30.0


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handlers: this process shuts both servers down together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def cap_malloc_arenas(arenas: int = 2) -> None:
    """Few glibc malloc arenas: job chunks are built on the interpreter's worker threads, and
    with glibc's default (8 per core) each thread's arena keeps its peak, so RSS grew with the
    number of chunks (416 → 619 MB from 100K to 1M records; 336 → 363 MB capped; bench/)."""
    M_ARENA_MAX = -8
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas)


def freeze_startup_heap() -> None:
    """Move everything alive after start-up out of the garbage collector's reach.

    The imports (botocore's models, moto, the pools) leave ~320K tracked objects that never
    die; every full collection walked them all: a 130-160 ms pause of every in-flight call
    (measured after start-up; 0 ms once frozen). Objects made later are collected as usual.
    """
    gc.collect()
    gc.freeze()


async def serve(grpc_port: int, http_port: int, host: str = "127.0.0.1") -> None:
    # The workflow (jobs, model paths) in moto's Step Functions interpreter, in this process.
    workflows = LocalWorkflows().start()
    # Every handler loaded before the first call, as provisioned concurrency would have them:
    # a first job or model-path request would otherwise pay their imports (≈0.2 s).
    for function in workflows.functions.values():
        lambdas.handler(function.code_dir)
    freeze_startup_heap()
    try:
        await _serve(grpc_port, http_port, host)
    finally:
        workflows.stop()


async def _serve(grpc_port: int, http_port: int, host: str) -> None:
    grpc_server, bound, checker = build_server(grpc_port, host)
    await grpc_server.start()
    for name in ("", SERVICE_NAME):
        await checker.set(name, health_pb2.HealthCheckResponse.SERVING)
    config = uvicorn.Config(
        create_app(), host=host, port=http_port, log_level="warning", lifespan="off"
    )
    http = _HttpServer(config)
    http_task = asyncio.create_task(http.serve())

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    while not http.started and not http_task.done():
        await asyncio.sleep(0.01)
    if http_task.done():  # the HTTP port could not be bound
        await grpc_server.stop(None)
        http_task.result()
        raise SystemExit(f"tda serve: cannot serve HTTP on {host}:{http_port}")
    print(
        f"tda serve: gRPC on {host}:{bound}, HTTP on http://{host}:{http_port} (docs: /docs)",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    print("tda serve: shutting down (in-flight calls finish)", file=sys.stderr, flush=True)
    await checker.enter_graceful_shutdown()
    http.should_exit = True
    await grpc_server.stop(GRACE_SECONDS)
    await http_task


def run(grpc_port: int, http_port: int, host: str) -> None:
    cap_malloc_arenas()
    # The default asyncio loop: grpc.aio drives its own poller and is not tested with uvloop.
    asyncio.run(serve(grpc_port, http_port, host))
