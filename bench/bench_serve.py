"""Load against ``tda serve`` on loopback: the gRPC shim and the HTTP API.

    python bench/bench_serve.py            # 1/10/50 clients, 10K stream, RSS at 10K and 1M streamed
    python bench/bench_serve.py --quick    # no 1M stream

- GenerateData / POST /v1/generate, 10 traditional carts per call, at 1, 10 and 50 concurrent
  clients: p50/p99 latency and requests/s. Baseline, measured in the same run: the same request
  through the router handler in-process (no transport), so the table also shows what the
  transport and the server add.
- The transport floor: the same 50-client load against a bare grpc.aio server that answers
  with one fixed 10-cart response, so the table shows what is transport and what is work.
- GenerateDataStream of 10K carts: time to first chunk and total; then the server's peak RSS
  (VmHWM) after streaming 10K and after 1M records, which must stay flat. Above
  MAX_SYNC_RECORDS a stream runs as a job through the workflow (chunks of 10K, streamed as
  they land), so these figures include the job's planning and the chunk store.

The client is grpc.aio / aiohttp in this process; the server is a separate ``tda serve``. The
machine is shared and noisy: compare ratios, and rerun before drawing conclusions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
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
from tda.models import GenerateRequest
from tda.service import generate
from testdata.v1 import test_data_pb2 as pb, test_data_pb2_grpc as pb_grpc
fixed = pb.GenerateResponse(success=True, data=generate(GenerateRequest(entity="cart", count=10)).data)
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


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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

    invoke("router", {"request": REQUEST})
    times = []
    for _ in range(200):
        start = time.perf_counter()
        invoke("router", {"request": REQUEST})
        times.append(time.perf_counter() - start)
    return {"p50_ms": statistics.median(times) * 1000, "p99_ms": percentile(times, 0.99) * 1000}


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
        return await grpc_unary(f"127.0.0.1:{port}", clients)
    finally:
        server.terminate()
        server.wait(30)


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


async def main(quick: bool) -> None:
    grpc_port, http_port = free_port(), free_port()
    home = tempfile.mkdtemp(prefix="tda-bench-")  # the streamed jobs' chunks land here
    server = subprocess.Popen(
        [sys.executable, "-m", "tda_local.cli", "serve", "--grpc-port", str(grpc_port),
         "--http-port", str(http_port)],
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TDA_HOME": home},
    )  # fmt: skip
    target, base = f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"{base}/health/live") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        baseline = in_process_baseline()
        print(f"{'10 carts per call':<22}{'clients':>8}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
        print(
            f"{'in-process handler':<22}{1:>8}{baseline['p50_ms']:>9.2f}{baseline['p99_ms']:>9.2f}{'':>9}"
        )
        for clients in (1, 10, 50):
            for name, run in (("gRPC GenerateData", grpc_unary(target, clients)),
                              ("HTTP POST /v1/generate", http_unary(base, clients))):  # fmt: skip
                result = await run
                print(
                    f"{name:<22}{clients:>8}{result['p50_ms']:>9.2f}{result['p99_ms']:>9.2f}{result['rps']:>9.0f}"
                )
        floor = await transport_floor(50)
        print(
            f"{'gRPC floor (fixed)':<22}{50:>8}{floor['p50_ms']:>9.2f}{floor['p99_ms']:>9.2f}{floor['rps']:>9.0f}"
        )
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
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 1M-record stream")
    asyncio.run(main(parser.parse_args().quick))
