"""``tda serve``: the gRPC shim and the HTTP API, on one event loop per process.

One process by default. ``--workers N`` adds N - 1 worker processes on the same two ports
(SO_REUSEPORT: the kernel spreads connections over them): Python runs one core per process,
and the fast path is CPU-bound. The primary owns the workflow runtime (jobs, model paths); a
worker relays what needs it to the primary's private ports (``tda_local.forwarding``).

SIGTERM or SIGINT starts a graceful shutdown: health turns NOT_SERVING, new calls are refused,
in-flight calls (streams included, and answers their readers are still taking) get
``SHUTDOWN_GRACE_SECONDS`` to finish, then the process exits. The primary passes the signal on
to its workers and waits for them; a worker whose primary is gone stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import gc
import logging
import math
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import grpc
import uvicorn
from grpc_health.v1 import health, health_pb2

from tda.app import unsent_answers
from tda.app.environment import read_float
from tda.http.app import create_app
from tda_local import access_log, http_guard, lambdas, log_floods, retention
from tda_local.forwarding import ForwardToPrimary, PrimaryStub
from tda_local.grpc_server import SERVICE_NAME, build_server, host_and_port
from tda_local.workers import WorkerPool
from tda_local.workflows import LocalWorkflows


def grace_seconds() -> float:
    """How long in-flight calls have to finish once a stop is asked for."""
    return read_float("SHUTDOWN_GRACE_SECONDS")


def _not_the_grace_running_out(record: logging.LogRecord) -> bool:
    """Drops uvicorn's ERROR "Cancel N running task(s), timeout graceful shutdown exceeded":
    closing what is left after the grace is the stop this server meant to make, and it says
    so itself, in a line naming what it closed."""
    return "timeout graceful shutdown exceeded" not in record.getMessage()


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


async def serve(grpc_port: int, http_port: int, host: str = "127.0.0.1", workers: int = 1) -> None:
    """The primary process, and ``workers - 1`` worker processes on the same ports."""
    # Workers get the environment as it was before the workflow runtime set its own: the
    # runtime is this process's alone, and they reach it through the forwarding.
    worker_env = dict(os.environ)
    # The workflow (jobs, model paths) in moto's Step Functions interpreter, in this process.
    stores = _store_urls()
    _check_store_folders(stores)
    workflows = LocalWorkflows(s3_outside=_stores_on_s3(stores)).start()
    # Every handler loaded before the first call, as provisioned concurrency would have them:
    # a first job or model-path request would otherwise pay their imports (≈0.2 s).
    for function in workflows.functions.values():
        lambdas.handler(function.code_dir)
    freeze_startup_heap()
    try:
        await _serve_primary(grpc_port, http_port, host, workers, worker_env)
    finally:
        # What the calls left behind (a cut-off stream's job being cancelled and removed)
        # finishes while the local runtime still answers: once it stops, boto3 would reach
        # for real AWS.
        await asyncio.get_running_loop().shutdown_default_executor()
        workflows.stop()


# The stores a server writes: the setting that places each, and what it is.
_STORES = (
    ("TDA_CHUNK_STORE", "the chunk store"),
    ("TDA_CACHE_STORE", "the model answers' cache"),
    ("VECTOR_STORE_URL", "the memory"),
)


def _store_urls() -> list[tuple[str, str, str]]:
    """(setting, URL or folder, what) of each store, named by the setting that put it there:
    its own when set, else ``TDA_HOME`` (or ``TDA_CHUNK_STORE``, beside whose S3 chunks it is)."""
    from tda import wiring
    from tda.app.settings import memory_settings, model_settings

    urls = (
        wiring.chunk_store_url(),
        wiring.cache_url(model_settings()),
        wiring.vector_store_url(memory_settings()),
    )
    found = []
    for (name, what), url in zip(_STORES, urls, strict=True):
        if not os.environ.get(name):
            name = "TDA_CHUNK_STORE" if url.startswith("s3://") else "TDA_HOME"
        found.append((name, url, what))
    return found


def _stores_on_s3(stores: list[tuple[str, str, str]]) -> bool:
    """Whether a store is on s3:// (its S3 calls then leave the local runtime's mock); exits
    naming the store when no AWS credentials are found to sign them with."""
    on_s3 = [name for name, url, _ in stores if url.startswith("s3://")]
    if not on_s3:
        return False
    import boto3

    if boto3.Session().get_credentials() is None:
        print(
            f"tda serve: {on_s3[0]} is on s3://, and no AWS credentials were found "
            "(AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws): the stores' S3 calls go to S3 itself",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return True


def _check_store_folders(stores: list[tuple[str, str, str]]) -> None:
    """Exit 2 naming every store on a folder that cannot be made or written, before serving.
    Before, the server started, a job was then refused as if the disk were full, and the
    memory and the cache failed at their first use."""
    problems = []
    for name, url, what in stores:
        if "://" in url and not url.startswith("file://"):
            continue
        folder = Path(url.removeprefix("file://"))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            problems.append(f"  {name}: {folder} ({what}): not a folder")
        except OSError as exc:
            problems.append(f"  {name}: {folder} ({what}): {exc.strerror}")
        else:
            if not os.access(folder, os.W_OK | os.X_OK):
                problems.append(f"  {name}: {folder} ({what}): not writable")
    if problems:
        lines = "\n".join(problems)
        print(f"tda serve: a store's folder cannot be made or written:\n{lines}", file=sys.stderr)
        raise SystemExit(2)


async def _serve_primary(
    grpc_port: int, http_port: int, host: str, workers: int, worker_env: dict[str, str]
) -> None:
    stop = _stop_on_signals()
    shared = workers > 1
    # Both ports are claimed first: with SO_REUSEPORT (gRPC's default, and how workers share a
    # port) a second server would otherwise bind beside this one and take half its calls.
    _claim(host, grpc_port, "gRPC")
    _claim(host, http_port, "HTTP")
    draining = threading.Event()  # set when this server stops: readiness then answers 503
    grpc_server, bound, checker = build_server(
        grpc_port, host, exclusive=not shared, draining=draining.is_set
    )
    http_sockets = [_http_socket(host, http_port, reuse_port=shared)]
    private = ""
    if shared:  # the ports the workers forward to, which only this process listens on
        private_grpc = grpc_server.add_insecure_port("127.0.0.1:0")
        http_sockets.append(_http_socket("127.0.0.1", 0, reuse_port=False))
        private = f"127.0.0.1:{private_grpc},http://127.0.0.1:{http_sockets[1].getsockname()[1]}"
    http_port = http_sockets[0].getsockname()[1]
    app = create_app(draining=draining.is_set)
    running = await _Running.start(grpc_server, checker, app, http_sockets, draining)
    collector = asyncio.create_task(_collect_old_jobs())
    pool = WorkerPool(workers - 1, bound, http_port, host, private, worker_env)
    try:
        await pool.start()
        processes = f" ({workers} processes)" if shared else ""
        print(
            f"tda serve: gRPC on {host_and_port(host, bound)}, "
            f"HTTP on http://{host_and_port(host, http_port)} "
            f"(docs: /docs){processes}",
            file=sys.stderr,
            flush=True,
        )
        await _until(stop)
    finally:
        print("tda serve: shutting down (in-flight calls finish)", file=sys.stderr, flush=True)
        pool.signal_stop()
        collector.cancel()
        await running.stop()
        await pool.wait(grace_seconds() + 10)


async def _collect_old_jobs() -> None:
    """Local retention (``tda_local.retention``): at start, then every hour."""
    root, cache = retention.local_root(), retention.local_cache_root()
    if root is None and cache is None:  # all in S3 (or Redis): they expire there
        return
    while True:
        if root is not None:
            await asyncio.to_thread(retention.collect, root, retention.retention_days())
        if cache is not None:
            await asyncio.to_thread(retention.collect_cache, cache)
        await asyncio.sleep(retention.COLLECT_EVERY_SECONDS)


async def serve_worker(grpc_port: int, http_port: int, host: str, primary: str) -> None:
    """A worker: the fast path and what needs no workflow, the rest relayed to ``primary``
    (``"<grpc host:port>,<http base url>"`` of its private ports)."""
    stop = _stop_on_signals()
    grpc_target, http_base = primary.split(",", 1)
    stub = PrimaryStub(grpc_target)
    draining = threading.Event()
    app = ForwardToPrimary(create_app(draining=draining.is_set), http_base)
    for name in ("router", "traditional", "api"):  # the handlers a worker calls itself
        lambdas.handler(name)
    freeze_startup_heap()
    grpc_server, _, checker = build_server(grpc_port, host, primary=stub, draining=draining.is_set)
    socket_ = _http_socket(host, http_port, reuse_port=True)
    running = await _Running.start(grpc_server, checker, app, [socket_], draining)
    print("ready", flush=True)  # to the primary, which waits for every worker
    try:
        await _until(stop, orphan_of=os.getppid())
    finally:
        await running.stop()  # the relay's HTTP client closed with its loop
        await stub.close()


@dataclass
class _Running:
    """One process's gRPC and HTTP servers, started and stopped together.

    Each transport has an event loop of its own: gRPC on the process's main loop, HTTP on a
    thread's. On one shared loop HTTP starved gRPC: grpc.aio accepts one new call per round
    trip through its poller thread and the loop, and every loop iteration also ran each ready
    HTTP request, so with 25 HTTP and 25 gRPC clients gRPC's p99 went from 40 ms to 0.3-11 s
    while HTTP's stayed near 30 ms (bench/bench_serve.py, mixed rows). Two loops share the GIL
    by its switch interval instead, so neither transport can hold up the other.
    """

    grpc_server: grpc.aio.Server
    checker: health.aio.HealthServicer
    http: _HttpServer
    http_thread: threading.Thread
    draining: threading.Event

    @classmethod
    async def start(
        cls,
        grpc_server: grpc.aio.Server,
        checker: health.aio.HealthServicer,
        app: Any,
        http_sockets: list[socket.socket],
        draining: threading.Event | None = None,
    ) -> _Running:
        await grpc_server.start()
        for name in ("", SERVICE_NAME):
            await checker.set(name, health_pb2.HealthCheckResponse.SERVING)
        # What the app holds open (a worker's relay: its connections to the primary) is
        # closed on the HTTP thread's loop, where it was opened, before that loop ends.
        close_app = getattr(app, "close", None)
        if access_log.wanted():
            app = access_log.HttpAccessLog(app)
        # An answer its reader takes slowly, or not at all, keeps its connection until the
        # stall drops it (a minute, or never for one taking a byte now and then): without a
        # timeout, uvicorn waited for it past the grace, and the stopped server stayed up.
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            http=http_guard.GuardedHttpProtocol,
            timeout_graceful_shutdown=math.ceil(grace_seconds()),
        )
        logging.getLogger("uvicorn.error").addFilter(_not_the_grace_running_out)
        # After uvicorn has set its loggers up (its Config does): a sender of junk makes a line
        # of uvicorn's each.
        log_floods.count_repeats_on("uvicorn.error")
        unsent_answers.count_with(http_guard.unsent_bytes)
        http = _HttpServer(config)
        failure: list[BaseException] = []

        async def serve_then_close() -> None:
            try:
                await http.serve(sockets=http_sockets)
                if left := len(http.server_state.connections):
                    print(
                        f"tda serve: closed {left} HTTP connection(s) still sending an answer "
                        f"after {grace_seconds():g} s (SHUTDOWN_GRACE_SECONDS)",
                        file=sys.stderr,
                        flush=True,
                    )
            finally:
                if close_app is not None:
                    await close_app()

        def serve_http() -> None:
            try:
                asyncio.run(serve_then_close())
            except BaseException as exc:  # reported below, on the main loop
                failure.append(exc)

        thread = threading.Thread(target=serve_http, name="http", daemon=True)
        thread.start()
        while not http.started and thread.is_alive():
            await asyncio.sleep(0.01)
        if not http.started:
            await grpc_server.stop(None)
            raise SystemExit(f"tda serve: the HTTP server did not start ({failure or 'exited'})")
        return cls(grpc_server, checker, http, thread, draining or threading.Event())

    async def stop(self) -> None:
        self.draining.set()  # readiness answers 503 from now on, on both transports
        await self.checker.enter_graceful_shutdown()
        self.http.should_exit = True  # uvicorn drains its connections, then its loop ends
        await self.grpc_server.stop(grace_seconds())
        await asyncio.to_thread(self.http_thread.join)


def _claim(host: str, port: int, what: str) -> None:
    """Exit naming the port if any socket listens on it, one that allows sharing included.

    A bind without SO_REUSEPORT fails beside every listener; SO_REUSEADDR lets it pass over a
    previous run's connections in TIME_WAIT.
    """
    family, kind, proto, address = _address(host, port)
    # Port 0 too: bound to any free port, the probe still tells an address of this machine.
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                _bad_host(host, "no interface of this machine has that address")
            taken = ": another server has it" if exc.errno == errno.EADDRINUSE else ""
            raise SystemExit(
                f"tda serve: cannot serve {what} on {host_and_port(host, port)} ({exc.strerror}){taken}"
            ) from None


def _address(host: str, port: int) -> tuple[socket.AddressFamily, socket.SocketKind, int, Any]:
    """What a socket for ``host``:``port`` is made and bound with: the first address found."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        _bad_host(host, f"no such address ({exc.strerror})")
    family, kind, proto, _, address = found[0]
    return family, kind, proto, address


def _bad_host(host: str, why: str) -> NoReturn:
    print(f"tda serve: --host {host}: {why}", file=sys.stderr)
    raise SystemExit(2)  # the caller's input, as the CLI's other bad options


def _http_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A listening TCP socket for uvicorn; with ``reuse_port``, one the workers share."""
    family, kind, proto, address = _address(host, port)
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise SystemExit(
            f"tda serve: cannot serve HTTP on {host_and_port(host, port)} ({exc})"
        ) from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT; installed before the banner is printed, so a signal
    sent the moment a caller sees it still stops the process gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _until(stop: asyncio.Event, orphan_of: int | None = None) -> None:
    """Until ``stop`` is set; a worker also stops when its primary is gone."""
    while not stop.is_set():
        if orphan_of is not None and os.getppid() != orphan_of:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms). grpc's
# poller thread needs the GIL to hand each completion to the loop, and a slab refill holds it
# for milliseconds; at 0.5 ms the 50-client GenerateData p99 was 36-49 ms (median 40, 9 runs)
# against 42-57 ms (median 49, 6 runs) at the default, at the same CPU per request (bench/).
GIL_SWITCH_SECONDS = 0.0005


def run(grpc_port: int, http_port: int, host: str, workers: int = 1, primary: str = "") -> None:
    log_floods.enable()
    if access_log.wanted():
        access_log.enable()
    cap_malloc_arenas()
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    # The default asyncio loop: grpc.aio drives its own poller and is not tested with uvloop.
    if primary:
        asyncio.run(serve_worker(grpc_port, http_port, host, primary))
    else:
        asyncio.run(serve(grpc_port, http_port, host, workers))
