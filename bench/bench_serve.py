"""Load against ``tda serve`` on loopback: the gRPC shim and the HTTP API.

    python bench/bench_serve.py            # 1/10/50 clients, 10K stream, RSS at 10K and 1M streamed
    python bench/bench_serve.py --quick    # no 1M stream
    python bench/bench_serve.py --workers 1   # one server process (default: one per core)

- GenerateData / POST /v1/generate, 10 traditional carts per call, at 1, 10 and 50 concurrent
  clients: p50/p99 latency, requests/s, and the server's CPU time per request (from
  /proc/<pid>/stat: the steadiest figure on a shared machine). Baseline, measured in the same
  run: the same request through the router handler in-process (no transport), so the table also
  shows what the transport and the server add.
- The transport floor: the same 50-client load against a bare grpc.aio server that answers
  with one fixed 10-cart response, so the table shows what is transport and what is work.
- The load generator is h2load (nghttp2, C; ``apt-get install nghttp2-client``) when it is on
  the PATH: closed-loop clients, one connection and one call in flight each, gRPC framed by
  hand. A Python client on the same two cores took a core of its own and set the latency it
  measured. Without h2load, grpc.aio / aiohttp clients in this process (the table says which).
- GenerateDataStream of 10K carts: time to first chunk and total; then the server's peak RSS
  (VmHWM) after streaming 10K and after 1M records, which must stay flat. Above
  MAX_SYNC_RECORDS a stream runs as a job through the workflow (chunks of 10K, streamed as
  they land), so these figures include the job's planning and the chunk store.

The server is a separate ``tda serve --workers <cores>``: its CPU and RSS are those of all its
processes (CPU summed, RSS the largest). The machine is shared and noisy: compare ratios, and
rerun before drawing conclusions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from google.protobuf.json_format import ParseDict

from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc

REQUEST = {"entity": "cart", "count": 10}
CALLS_PER_CLIENT = 60

# The transport floor, measured in the same run: a bare grpc.aio server answering GenerateData
# with one fixed 10-cart response (made once at start), no handler, no generation.
FLOOR_SERVER = r"""
import asyncio, sys
import grpc
from tda.domain.contract import GenerateRequest
from tda.app.service import generate
from testdata.v1 import test_data_pb2 as pb, test_data_pb2_grpc as pb_grpc
fixed = pb.GenerateResponse(
    success=True, record_count=10, data=generate(GenerateRequest(entity="cart", count=10)).data
)
class Floor(pb_grpc.TestDataServiceServicer):
    async def GenerateData(self, request, context):
        return fixed
async def main():
    server = grpc.aio.server()
    pb_grpc.add_TestDataServiceServicer_to_server(Floor(), server)
    server.add_insecure_port(f"127.0.0.1:{sys.argv[1]}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_processes(pid: int) -> list[int]:
    """``tda serve``'s primary and its worker processes."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def peak_rss_mb(pid: int) -> float:
    """The largest peak RSS (VmHWM) of the server's processes."""
    peaks = []
    for process in server_processes(pid):
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the server's processes (the primary's and its workers')."""
    ticks = 0
    for process in server_processes(pid):
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def load(call: Any, clients: int) -> dict[str, float]:
    latencies: list[float] = []

    async def client() -> None:
        for _ in range(CALLS_PER_CLIENT):
            start = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - start)

    await call()  # warm
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - started
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "rps": len(latencies) / wall,
    }


def in_process_baseline() -> dict[str, float]:
    from tda_local.lambdas import invoke

    for _ in range(200):  # warm: slabs grow to their full size
        invoke("router", {"request": REQUEST})
    times = []
    cpu = time.process_time()
    for _ in range(1000):
        start = time.perf_counter()
        invoke("router", {"request": REQUEST})
        times.append(time.perf_counter() - start)
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p99_ms": percentile(times, 0.99) * 1000,
        "cpu_ms": (time.process_time() - cpu),  # seconds per 1000 calls = ms per call
    }


def h2load(url: str, body: bytes, headers: list[str], clients: int, h1: bool) -> dict[str, float]:
    """``clients`` closed-loop h2load clients; latencies from its per-request log."""
    with tempfile.TemporaryDirectory() as scratch:
        data, log = Path(scratch, "body"), Path(scratch, "log")
        data.write_bytes(body)
        calls = clients * CALLS_PER_CLIENT
        warm = ["h2load", "-n", str(clients), "-c", str(clients), "-m", "1", "-d", str(data)]
        options = [*(["--h1"] if h1 else []), *(a for h in headers for a in ("-H", h)), url]
        subprocess.run([*warm, *options], capture_output=True, check=True)
        run = [*warm, "--log-file", str(log)]
        run[2] = str(calls)
        started = time.perf_counter()
        out = subprocess.run([*run, *options], capture_output=True, text=True, check=True).stdout
        wall = time.perf_counter() - started
        assert f"{calls} succeeded" in out, out
        durations = [int(line.split()[2]) / 1000 for line in log.read_text().splitlines()]
    assert len(durations) == calls
    return {
        "p50_ms": statistics.median(durations),
        "p99_ms": percentile(durations, 0.99),
        "rps": calls / wall,
    }


def grpc_frame(message: pb.GenerateRequest) -> bytes:
    payload = message.SerializeToString()
    return b"\x00" + struct.pack(">I", len(payload)) + payload


async def checked_grpc_call(target: str) -> None:
    """One call through a real gRPC client: h2load sees HTTP 200 even for a gRPC error."""
    async with grpc.aio.insecure_channel(target) as channel:
        response = await pb_grpc.TestDataServiceStub(channel).GenerateData(
            ParseDict(REQUEST, pb.GenerateRequest())
        )
        assert response.success and response.record_count == REQUEST["count"]


async def grpc_load(target: str, clients: int) -> dict[str, float]:
    if not shutil.which("h2load"):
        return await grpc_unary(target, clients)
    await checked_grpc_call(target)
    return h2load(
        f"http://{target}/testdata.v1.TestDataService/GenerateData",
        grpc_frame(ParseDict(REQUEST, pb.GenerateRequest())),
        ["content-type: application/grpc", "te: trailers"],
        clients,
        h1=False,
    )


async def http_load(base: str, clients: int) -> dict[str, float]:
    if not shutil.which("h2load"):
        return await http_unary(base, clients)
    body = json.dumps(REQUEST).encode()
    return h2load(f"{base}/v1/generate", body, ["content-type: application/json"], clients, h1=True)


async def grpc_unary(target: str, clients: int) -> dict[str, float]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.TestDataServiceStub(channel)
        message = ParseDict(REQUEST, pb.GenerateRequest())
        return await load(lambda: stub.GenerateData(message), clients)


async def http_unary(base: str, clients: int) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base, connector=connector) as session:

        async def call() -> None:
            async with session.post("/v1/generate", json=REQUEST) as response:
                assert response.status == 200
                await response.read()

        return await load(call, clients)


async def transport_floor(clients: int) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", FLOOR_SERVER, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        before = cpu_seconds(server.pid)
        result = await grpc_load(f"127.0.0.1:{port}", clients)
        return with_cpu(result, cpu_seconds(server.pid) - before, clients)
    finally:
        server.terminate()
        server.wait(30)


def with_cpu(result: dict[str, float], cpu: float, clients: int) -> dict[str, float]:
    """The run's server CPU per request (warm-up calls included: one per client, and one)."""
    calls = clients * CALLS_PER_CLIENT + clients + 1
    return {**result, "cpu_ms": cpu / calls * 1000}


async def stream(target: str, count: int) -> dict[str, float]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.TestDataServiceStub(channel)
        message = ParseDict({"entity": "cart", "count": count}, pb.GenerateRequest())
        started = time.perf_counter()
        first = 0.0
        records = 0
        async for chunk in stub.GenerateDataStream(message):
            if not first:
                first = time.perf_counter() - started
            records += chunk.record_count
        assert records == count
        return {"first_chunk_ms": first * 1000, "total_s": time.perf_counter() - started}


def row(label: str, result: dict[str, float]) -> None:
    rps = f"{result['rps']:>9.0f}" if "rps" in result else f"{'':>9}"
    cpu = f"{result['cpu_ms']:>12.3f}" if "cpu_ms" in result else f"{'':>12}"
    print(f"{label}{result['p50_ms']:>9.2f}{result['p99_ms']:>9.2f}{rps}{cpu}")


async def main(quick: bool, workers: int) -> None:
    grpc_port, http_port = free_port(), free_port()
    home = tempfile.mkdtemp(prefix="tda-bench-")  # the streamed jobs' chunks land here
    server = subprocess.Popen(
        [sys.executable, "-m", "tda_local.cli", "serve", "--grpc-port", str(grpc_port),
         "--http-port", str(http_port), "--workers", str(workers)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TDA_HOME": home},
    )  # fmt: skip

    target, base = f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}"
    drain: asyncio.Future[str] | None = None
    try:
        assert server.stderr is not None  # the banner comes once every process serves
        while not (line := server.stderr.readline()).startswith("tda serve: gRPC on"):
            assert line, "tda serve did not start"
        # Drained, never read again: a full pipe would block the server.
        drain = asyncio.get_running_loop().run_in_executor(None, server.stderr.read)
        baseline = in_process_baseline()
        print(
            f"load generator: {'h2load' if shutil.which('h2load') else 'Python (no h2load)'}; "
            f"server: tda serve --workers {workers} on {os.cpu_count()} cores"
        )
        print(f"{'10 carts per call':<24}{'clients':>8}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}"
              f"{'CPU ms/req':>12}")  # fmt: skip
        row(f"{'in-process handler':<24}{1:>8}", baseline)
        await grpc_load(target, 10)  # warm: the server's slabs grow to their full size
        await http_load(base, 10)
        for clients in (1, 10, 50):
            for name, load in (("gRPC GenerateData", grpc_load(target, clients)),
                               ("HTTP POST /v1/generate", http_load(base, clients))):  # fmt: skip
                before = cpu_seconds(server.pid)
                result = with_cpu(await load, cpu_seconds(server.pid) - before, clients)
                row(f"{name:<24}{clients:>8}", result)
        # Both transports at once, 25 clients each: each must stay fast under the other's load.
        mixed_grpc, mixed_http = await asyncio.gather(
            asyncio.to_thread(asyncio.run, grpc_load(target, 25)),
            asyncio.to_thread(asyncio.run, http_load(base, 25)),
        )
        row(f"{'gRPC (+25 HTTP)':<24}{25:>8}", mixed_grpc)
        row(f"{'HTTP (+25 gRPC)':<24}{25:>8}", mixed_http)
        row(f"{'gRPC floor (fixed)':<24}{50:>8}", await transport_floor(50))
        ten_k = await stream(target, 10_000)
        rss_10k = peak_rss_mb(server.pid)
        print(
            f"\nGenerateDataStream 10K carts: first chunk {ten_k['first_chunk_ms']:.0f} ms, "
            f"total {ten_k['total_s']:.2f} s ({10_000 / ten_k['total_s']:.0f} records/s); "
            f"server peak RSS {rss_10k:.0f} MB"
        )
        if not quick:
            # From 100K (10 chunks) on, one chunk is written while the last is streamed: the plateau.
            await stream(target, 100_000)
            rss_100k = peak_rss_mb(server.pid)
            million = await stream(target, 1_000_000)
            print(
                f"GenerateDataStream 1M carts: total {million['total_s']:.1f} s "
                f"({1_000_000 / million['total_s']:.0f} records/s); server peak RSS "
                f"{peak_rss_mb(server.pid):.0f} MB (after 10K: {rss_10k:.0f} MB, "
                f"after 100K: {rss_100k:.0f} MB)"
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        if drain is not None:
            await drain
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 1M-record stream")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="server processes (default: cores)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.workers))
