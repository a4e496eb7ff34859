"""A whole job through the local workflow: records/s and the server's peak RSS by job size.

    python bench/bench_jobs.py            # 100K and 1M cart records (NDJSON)
    python bench/bench_jobs.py --quick    # 20K and 100K

Each size runs on a fresh ``tda serve`` (its own TDA_HOME), submitted and polled with the
``tda jobs`` client over HTTP, as a user would. Peak RSS is the server's VmHWM; the smaller
job is the baseline measured in the same run: bounded memory means the ratio stays near 1
while the record count grows tenfold.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_job(count: int) -> dict[str, float]:
    home = tempfile.mkdtemp(prefix="tda-bench-")
    http = free_port()
    env = {**os.environ, "TDA_HOME": home}
    server = subprocess.Popen(
        ["tda", "serve", "--grpc-port", str(free_port()), "--http-port", str(http)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        server.stderr.readline()  # "tda serve: gRPC on ..., HTTP on ..." once both listen
        api = f"http://127.0.0.1:{http}"
        idle = peak_rss_mb(server.pid)
        started = time.perf_counter()
        job_id = subprocess.run(
            ["tda", "jobs", "--api", api, "submit", "cart", "--count", str(count), "--wait"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[0]
        elapsed = time.perf_counter() - started
        with urllib.request.urlopen(f"{api}/v1/jobs/{job_id}") as response:
            status = json.loads(response.read())
        assert status["status"] == "SUCCEEDED", status
        # The manifest's key in the chunk store, here TDA_HOME/jobs (file://).
        manifest = json.loads((Path(home) / "jobs" / status["manifest"]).read_text())
        assert manifest["record_count"] == count
        size = sum(c["bytes"] for c in manifest["chunks"])
        return {
            "seconds": elapsed,
            "rate": count / elapsed,
            "idle_mb": idle,
            "peak_mb": peak_rss_mb(server.pid),
            "chunks": len(manifest["chunks"]),
            "gb": size / 1e9,
        }
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [20_000, 100_000] if args.quick else [100_000, 1_000_000]
    print(
        f"{'records':>10}  {'chunks':>6}  {'seconds':>8}  {'rec/s':>8}  {'output GB':>9}"
        f"  {'idle RSS MB':>11}  {'peak RSS MB':>11}"
    )
    results = []
    for count in sizes:
        r = run_job(count)
        results.append(r)
        print(
            f"{count:>10,}  {r['chunks']:>6.0f}  {r['seconds']:>8.1f}  {r['rate']:>8,.0f}"
            f"  {r['gb']:>9.2f}  {r['idle_mb']:>11.0f}  {r['peak_mb']:>11.0f}",
            flush=True,
        )
    ratio = results[-1]["peak_mb"] / results[0]["peak_mb"]
    print(
        f"peak RSS, {sizes[-1]:,} vs {sizes[0]:,} records: {ratio:.2f}x "
        f"(records {sizes[-1] // sizes[0]}x)"
    )


if __name__ == "__main__":
    main()
