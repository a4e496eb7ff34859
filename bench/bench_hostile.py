"""What a hostile crowd costs everyone else: a small request's latency while the worst inputs
and the worst readers anyone came up with hit both transports at once, against the same
server idle, in the same run.

    python bench/bench_hostile.py                         # 20 s idle, then 90 s of attack
    python bench/bench_hostile.py --seconds 30 --workers 1
    python bench/bench_hostile.py --rounds 3 --seconds 60   # RSS after each: does it grow?

One ``tda serve`` (``--workers 2`` by default) with the scripted model behind its LLM path
(0.005 s a token) and the RAG corpus seeded; ``STREAM_STALL_SECONDS=5``. Measured throughout:
a canary (5 carts over HTTP, on one kept-alive connection) and ``/health`` (a fresh connection
each time). Under attack, at once:

- 6 HTTP and 6 gRPC clients sending the hostile bodies of ``tests/surfaces/test_hostile.py``,
  the heaviest valid ones, model-path requests and, over HTTP, a quarter of raw junk;
- 3 gRPC streams of 10 to 50,000 orders, each read whole, cancelled after 3 messages or left
  unread for 8 s;
- 20 HTTP bodies dripped a byte every half second; 4 downloads of a 10K-order job's chunk on
  4 KB receive buffers, held unread for 12 s;
- 4 HTTP and 4 raw HTTP/2 callers asking for 30 MB answers and reading none for 15 s;
- 8 HTTP bodies declared 1 MB and half sent; 6 raw HTTP/2 connections of 100 GenerateData
  calls each (more than both processes' GRPC_MAX_RECEIVING_CALLS, 256 each), half of a 1 MiB message sent in each, then only pings answered for 15 s.
- 160 HTTP bodies declared 1 MiB, ten bytes sent, then a byte a second: more than both
  processes' MAX_RECEIVING_BYTES (64 MiB each), which they give way from.
- 4 HTTP clients asking for 2 users at a time, each in one of Faker's 110 locales (the first
  request in a locale builds its pools).

The table: the canary's and /health's p50 and p99, idle and under attack, and their ratio;
what the attack was answered; then the checks, which make the exit status 1 when one fails:
no 5xx, INTERNAL or UNKNOWN; no request over 20 s; no traceback or ERROR in the server's
log; a model-path request (5 reviews) answered on the llm path right after. The server's RSS
idle, at its peak and 15 s after each round (``--rounds``): what a leak would grow. The
machine is shared and noisy: read the ratios, and run it twice before believing one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
from faker.config import AVAILABLE_LOCALES
from google.protobuf.json_format import Parse, ParseError
from h2.config import H2Configuration
from h2.connection import H2Connection

from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the hostile bodies live with the tests that refuse them

from bench.bench_heavy_queue import free_port  # noqa: E402
from tests.surfaces.hostile_requests import HEAVY_VALID, HOSTILE, LARGE_ANSWER  # noqa: E402

SLOW_SECONDS = 20.0  # no answer may take longer, whatever else is in flight
SETTLE_SECONDS = 15.0  # after a round: its callers gone, what they left dropped by the stalls
CANARY = {"entity": "cart", "count": 5}
MORE_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("20,000 enum values", {"entity": "user", "count": 10, "constraints": {"field_constraints": {
        "first_name": {"enum_values": [str(i) for i in range(20_000)]}}}}),
    ("a context of a million characters", {"entity": "review", "count": 5,
                                           "context": "x" * 1_000_000}),
    ("1000 carts", {"entity": "cart", "count": 1000}),
    ("1000 orders", {"entity": "order", "count": 1000}),
    ("5 reviews with a context", {"entity": "review", "count": 5,
                                  "context": "reviews of a travel kettle"}),
    ("50 production-like payments", {"entity": "payment", "count": 50, "production_like": True}),
    ("20 carts, coherent", {"entity": "cart", "count": 20, "hints": ["realistic", "coherent"]}),
    ("20 orders from history", {"entity": "order", "count": 20, "context": "a bakery's orders",
                                "learn_from_history": True}),
    ("100 products as CSV, defect-triggering", {"entity": "product", "count": 100,
                                                "output_format": "CSV", "defect_triggering": True}),
]  # fmt: skip
# Each named, so an answer too slow says which request it was.
BODIES = [(name, body) for name, body, _ in HOSTILE] + HEAVY_VALID + MORE_BODIES
HALF_BODY = (
    b"POST /v1/generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    b"content-length: 1000000\r\n\r\n" + b" " * 500_000
)
HOG_HEAD = (
    b"POST /v1/generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    b"content-length: 1048576\r\n\r\n"
)
HALF_MESSAGE = b"\0" + (1 << 20).to_bytes(4, "big") + b"\n" * 500_000
JUNK = [b"{" * 100_000, os.urandom(2 << 20), b"[]", b"null", b'{"entity": 5}', b"\xff\xfe"]


class Tally:
    """What callers were answered, how long the slowest waited, and the probes' latencies."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: Counter[str] = Counter()
        self.slow: list[str] = []
        self.slowest = (0.0, "")
        self.latency: dict[str, list[float]] = {}

    def count(self, what: str, took: float = 0.0, asked: str = "") -> None:
        """One answer of kind ``what`` after ``took`` seconds; ``asked`` names the request in
        the slowest and the slow lists, not in the count."""
        named = f"{what} to '{asked}'" if asked else what
        with self.lock:
            self.answers[what] += 1
            self.slowest = max(self.slowest, (took, named))
            if took > SLOW_SECONDS:
                self.slow.append(f"{named} after {took:.1f} s")

    def sample(self, probe: str, took: float) -> None:
        with self.lock:
            self.latency.setdefault(probe, []).append(took)


class Attack:
    def __init__(self, http_port: int, grpc_port: int, tally: Tally) -> None:
        self.base = f"http://127.0.0.1:{http_port}"
        self.http_port, self.grpc_port = http_port, grpc_port
        self.tally = tally
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def run(self, kind: Callable[[], None], how_many: int) -> None:
        for _ in range(how_many):
            thread = threading.Thread(target=self._guarded(kind), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _guarded(self, kind: Callable[[], None]) -> Callable[[], None]:
        def loop() -> None:
            while not self.stop.is_set():
                try:
                    kind()
                except (OSError, httpx.HTTPError) as exc:
                    self.tally.count(f"{kind.__name__}: {type(exc).__name__}")

        return loop

    def http_sender(self) -> None:
        with httpx.Client(base_url=self.base, timeout=120) as http:
            while not self.stop.is_set():
                if random.random() < 0.25:
                    asked, content = "junk", random.choice(JUNK)
                else:
                    asked, body = random.choice(BODIES)
                    content = json.dumps(body).encode()
                started = time.monotonic()
                answer = http.post("/v1/generate", content=content)
                # A 429 for room to receive its body, told from one for the work it asks.
                room = " (receiving)" if b"MAX_RECEIVING_BYTES" in answer.content else ""
                took = time.monotonic() - started
                self.tally.count(f"HTTP {answer.status_code}{room}", took, asked)

    def locale_hopper(self) -> None:
        """Two users at a time, each request in a locale drawn from Faker's 110: the first in
        each one, in each process, builds its pools (up to 0.85 s of CPU; it was answered on
        the event loop, and 110 of them held a 10-cart request 4.7 s)."""
        with httpx.Client(base_url=self.base, timeout=120) as http:
            while not self.stop.is_set():
                body = {"entity": "user", "count": 2, "locale": random.choice(AVAILABLE_LOCALES)}
                started = time.monotonic()
                answer = http.post("/v1/generate", json=body)
                took = time.monotonic() - started
                self.tally.count(f"HTTP {answer.status_code} (new locales)", took)

    def grpc_sender(self) -> None:
        options = [("grpc.max_receive_message_length", 64 << 20)]
        with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}", options=options) as channel:
            stub = pb_grpc.TestDataServiceStub(channel)
            while not self.stop.is_set():
                asked, body = random.choice(BODIES)
                try:
                    request = Parse(json.dumps(body), pb.GenerateRequest(),
                                    ignore_unknown_fields=True)  # fmt: skip
                except ParseError:
                    continue  # not expressible in the proto: HTTP sends it
                started = time.monotonic()
                room = ""
                try:
                    stub.GenerateData(request, timeout=120)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as exc:
                    code = exc.code()
                    room = " (receiving)" if "RECEIVING" in (exc.details() or "") else ""
                self.tally.count(f"gRPC {code.name}{room}", time.monotonic() - started, asked)

    def streamer(self) -> None:
        options = [("grpc.use_local_subchannel_pool", 1)]  # a connection of its own
        with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}", options=options) as channel:
            stub = pb_grpc.TestDataServiceStub(channel)
            count = random.choice([10, 1000, 5000, 50_000])
            mode = random.choice(["whole", "cancel", "stall"])
            stream = stub.GenerateDataStream(
                pb.GenerateRequest(entity="order", count=count), timeout=120
            )
            started = time.monotonic()
            try:
                for taken, _ in enumerate(stream, 1):
                    if mode == "cancel" and taken == 3:
                        stream.cancel()
                    if mode == "stall" and taken == 1:
                        time.sleep(8)
                code = "OK"
            except grpc.RpcError as exc:
                code = exc.code().name
            self.tally.count(f"stream ({mode}) {code}", time.monotonic() - started)

    def dripper(self) -> None:
        with socket.create_connection(("127.0.0.1", self.http_port), timeout=30) as sock:
            sock.sendall(b"POST /v1/generate HTTP/1.1\r\nhost: x\r\n"
                         b"content-type: application/json\r\ncontent-length: 100000\r\n\r\n")  # fmt: skip
            try:
                while not self.stop.is_set():
                    sock.sendall(b" ")
                    time.sleep(0.5)
            except OSError:
                self.tally.count("dripper cut off")

    def _held_unread(self, request: bytes, port: int, seconds: float, what: str) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(30)
        with sock:
            sock.connect(("127.0.0.1", port))
            sock.sendall(request)
            head = sock.recv(4096)
            self.tally.count(f"{what} {head[9:12].decode(errors='replace') or 'closed'}")
            self.stop.wait(seconds)

    def chunk_hoarder(self, job_id: str) -> None:
        request = f"GET /v1/jobs/{job_id}/chunks/0 HTTP/1.1\r\nhost: x\r\n\r\n".encode()
        self._held_unread(request, self.http_port, 12, "chunk hoarder")

    def http_hoarder(self) -> None:
        body = json.dumps(LARGE_ANSWER).encode()
        head = (f"POST /v1/generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n")  # fmt: skip
        self._held_unread(head.encode() + body, self.http_port, 15, "HTTP hoarder")

    def h2_hoarder(self) -> None:
        method = random.choice(["GenerateData", "GenerateDataStream"])
        message = Parse(json.dumps(LARGE_ANSWER), pb.GenerateRequest()).SerializeToString()
        h2 = H2Connection(H2Configuration(client_side=True))
        h2.initiate_connection()
        stream = h2.get_next_available_stream_id()
        h2.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":authority", "x"),
                                 (":path", f"/testdata.v1.TestDataService/{method}"),
                                 ("content-type", "application/grpc"), ("te", "trailers")])  # fmt: skip
        h2.send_data(stream, b"\0" + len(message).to_bytes(4, "big") + message, end_stream=True)
        with socket.create_connection(("127.0.0.1", self.grpc_port), timeout=30) as sock:
            sock.sendall(h2.data_to_send())
            sock.recv(65536)  # its settings and, once made, the answer's first bytes
            self.tally.count("h2 hoarder answered")
            self.stop.wait(15)

    def half_sender(self) -> None:
        """Half a body, then nothing: held until the read timeout cuts it off, or refused at
        its head (MAX_RECEIVING_BYTES)."""
        with socket.create_connection(("127.0.0.1", self.http_port), timeout=30) as sock:
            sock.sendall(HALF_BODY)
            head = sock.recv(4096)
            self.tally.count(f"half body {head[9:12].decode(errors='replace') or 'cut off'}")

    def hogger(self) -> None:
        """A body declared 1 MB and ten bytes of it sent, then a byte a second: enough of them
        hold every process's MAX_RECEIVING_BYTES; they give way to bodies that arrive (closed),
        else the read timeout closes them."""
        with socket.create_connection(("127.0.0.1", self.http_port), timeout=30) as sock:
            sock.sendall(HOG_HEAD + b" " * 10)
            try:
                while not self.stop.wait(1):
                    sock.sendall(b" ")
                    sock.setblocking(False)
                    try:
                        head = sock.recv(4096)
                    except BlockingIOError:
                        continue
                    finally:
                        sock.setblocking(True)
                    self.tally.count(f"hog {head[9:12].decode(errors='replace') or 'closed'}")
                    return
            except OSError:
                self.tally.count("hog closed")

    def half_caller(self) -> None:
        """100 calls of half a message each on one connection, its pings answered for 15 s;
        how many were refused at once (GRPC_MAX_RECEIVING_CALLS) and how many gave way to
        newer calls, by tens."""
        h2 = H2Connection(H2Configuration(client_side=True))
        h2.initiate_connection()
        with socket.create_connection(("127.0.0.1", self.grpc_port), timeout=30) as sock:
            for _ in range(100):
                stream = h2.get_next_available_stream_id()
                h2.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":authority", "x"),
                                         (":path", "/testdata.v1.TestDataService/GenerateData"),
                                         ("content-type", "application/grpc"), ("te", "trailers")])  # fmt: skip
                sent = 0
                while sent < len(HALF_MESSAGE):  # as the server's flow control lets it
                    size = min(h2.local_flow_control_window(stream), h2.max_outbound_frame_size,
                               len(HALF_MESSAGE) - sent)  # fmt: skip
                    if size <= 0:
                        sock.sendall(h2.data_to_send())
                        h2.receive_data(sock.recv(65536))
                        continue
                    h2.send_data(stream, HALF_MESSAGE[sent : sent + size])
                    sent += size
                sock.sendall(h2.data_to_send())
            refused = gave_way = 0
            end = time.monotonic() + 15
            sock.settimeout(1)
            while time.monotonic() < end and not self.stop.is_set():
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                for event in h2.receive_data(data):  # pings are acknowledged by h2
                    headers = dict(getattr(event, "headers", None) or [])
                    refused += headers.get(b"grpc-status") == b"8"
                    gave_way += b"gave way" in headers.get(b"grpc-message", b"")
                sock.sendall(h2.data_to_send())
            self.tally.count(f"half calls refused at once: {refused // 10 * 10}+ of 100")
            self.tally.count(f"half calls that gave way: {gave_way // 10 * 10}+ of 100")


def attacked(attack: Attack, job_id: str, seconds: float, server_pid: int) -> float:
    """The whole mix for ``seconds``, its callers then stopped; the server's peak RSS (MB)."""
    attack.run(attack.http_sender, 6)
    attack.run(attack.grpc_sender, 6)
    attack.run(attack.streamer, 3)
    attack.run(attack.dripper, 20)
    attack.run(lambda: attack.chunk_hoarder(job_id), 4)
    attack.run(attack.http_hoarder, 4)
    attack.run(attack.h2_hoarder, 4)
    attack.run(attack.half_sender, 8)
    attack.run(attack.half_caller, 6)
    attack.run(attack.hogger, 160)
    attack.run(attack.locale_hopper, 4)
    peak, end = 0.0, time.monotonic() + seconds
    while time.monotonic() < end:
        peak = max(peak, rss_mb(server_pid))
        time.sleep(1)
    attack.stop.set()
    for thread in attack.threads:
        thread.join(130)
    return peak


def probe(base: str, tally: Tally, phase: list[str], stop: threading.Event) -> None:
    """The canary (kept-alive) and /health (fresh connections), sampled into the phase."""
    # One client for each (a client made per call costs ≈20 ms of its own: an SSL context).
    fresh = httpx.Client(
        base_url=base, timeout=120, limits=httpx.Limits(max_keepalive_connections=0)
    )
    with httpx.Client(base_url=base, timeout=120) as http, fresh:
        while not stop.is_set():
            started = time.monotonic()
            answer = http.post("/v1/generate", json=CANARY)
            if answer.status_code != 200:
                tally.count(f"canary {answer.status_code}")
            tally.sample(f"canary {phase[0]}", time.monotonic() - started)
            started = time.monotonic()
            status = fresh.get("/health").status_code
            if status != 200:
                tally.count(f"health {status}")
            tally.sample(f"health {phase[0]}", time.monotonic() - started)
            time.sleep(0.05)


def finished_job(base: str) -> str:
    job = httpx.post(f"{base}/v1/jobs", json={"entity": "order", "count": 10_000}, timeout=60)
    job_id: str = job.json()["job_id"]
    deadline = time.monotonic() + 120
    while httpx.get(f"{base}/v1/jobs/{job_id}", timeout=60).json()["status"] != "SUCCEEDED":
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job_id} did not finish")
        time.sleep(0.5)
    return job_id


def started(args: argparse.Namespace, home: Path) -> tuple[list[subprocess.Popen[bytes]], int, int]:
    env = {**os.environ, "TDA_HOME": str(home), "STREAM_STALL_SECONDS": "5"}
    for elsewhere in ("VECTOR_STORE_URL", "TDA_CACHE_STORE", "ANTHROPIC_API_KEY"):
        env.pop(elsewhere, None)  # everything in TDA_HOME, the scripted model the only one
    model_port, http_port, grpc_port = free_port(), free_port(), free_port()
    env["LLM_BASE_URL"] = f"http://127.0.0.1:{model_port}/v1"
    subprocess.run([sys.executable, "-m", "tda_local.cli", "rag", "seed"], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    model = subprocess.Popen([sys.executable, "-m", "tda_local.scripted_model", "--port",
                              str(model_port), "--seconds-per-token", "0.005"],
                             stderr=subprocess.DEVNULL)  # fmt: skip
    with open(home / "serve.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "tda_local.cli", "serve", "--workers",
                                   str(args.workers), "--http-port", str(http_port),
                                   "--grpc-port", str(grpc_port)], env=env, stderr=log)  # fmt: skip
    deadline = time.monotonic() + 120
    while b"tda serve: gRPC on" not in (home / "serve.log").read_bytes():
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit((home / "serve.log").read_text())
        time.sleep(0.2)
    return [server, model], http_port, grpc_port


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (the server's workers), now."""
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], text=True,
                                                    capture_output=True).stdout.split()]  # fmt: skip
    total = 0
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def report(tally: Tally, memory: dict[str, float], after: str, log: str) -> int:
    print("| probe | phase | samples | p50 ms | p99 ms |")
    print("|---|---|---:|---:|---:|")
    for probe_name in ("canary", "health"):
        for phase in ("idle", "attack"):
            samples = tally.latency.get(f"{probe_name} {phase}", [])
            p50 = statistics.median(samples) * 1000 if samples else float("nan")
            p99 = percentile(samples, 0.99) if samples else float("nan")
            print(f"| {probe_name} | {phase} | {len(samples)} | {p50:.0f} | {p99:.0f} |")
        idle, attack = (tally.latency.get(f"{probe_name} {p}", [1.0]) for p in ("idle", "attack"))
        print(f"| {probe_name} | attack / idle | | {statistics.median(attack) / statistics.median(idle):.1f}x"
              f" | {percentile(attack, 0.99) / percentile(idle, 0.99):.1f}x |")  # fmt: skip
    print("\nanswered:", ", ".join(f"{k} ×{v}" for k, v in sorted(tally.answers.items())))
    # Every probe's 5xx: the canary's and /health's too (a relayed /health's 502 once went
    # by as 'health 502' and passed).
    server_faults = [k for k in tally.answers
                     if re.search(r"(HTTP|canary|health|hoarder) 5\d\d( \(.+\))?$|gRPC (INTERNAL|UNKNOWN)", k)]  # fmt: skip
    log_faults = [line for line in log.splitlines() if "Traceback" in line or "ERROR" in line]
    gave_way = "a request body gave way to another"
    lines = log.splitlines()
    written = [line for line in lines if gave_way in line and not line.startswith("and ")]
    told = [line for line in lines if gave_way in line and line.startswith("and ")]
    counted = sum(int(line.split()[1]) for line in told)  # 'and N more like ...'
    print(f"request bodies that gave way to another: {len(written) + counted} "
          f"({len(written)} log lines of their own, the rest counted in {len(told)})")  # fmt: skip
    checks = {
        "no 5xx, INTERNAL or UNKNOWN": not server_faults,
        f"no answer over {SLOW_SECONDS:g} s": not tally.slow,
        "no traceback or ERROR logged": not log_faults,
        "a model-path request right after, on the llm path": after.startswith("llm"),
    }
    took, what = tally.slowest
    print(f"slowest answer: {what}, {took:.1f} s; after the attack, 5 reviews: {after}")
    print("server RSS:", ", ".join(f"{when} {mb:.0f} MB" for when, mb in memory.items()))
    for check, held in checks.items():
        print(f"{'ok  ' if held else 'FAIL'} {check}")
    for line in (server_faults + tally.slow + log_faults)[:20]:
        print("    ", line)
    return 0 if all(checks.values()) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=90, help="of attack")
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="of attack, 15 s apart")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tda-bench-hostile-"))
    processes, http_port, grpc_port = started(args, home)
    base = f"http://127.0.0.1:{http_port}"
    tally, phase, probing = Tally(), ["idle"], threading.Event()
    prober = threading.Thread(target=probe, args=(base, tally, phase, probing), daemon=True)
    try:
        job_id = finished_job(base)
        prober.start()
        time.sleep(args.idle_seconds)
        memory = {"idle": rss_mb(processes[0].pid), "peak": 0.0}
        for round_number in range(1, args.rounds + 1):
            phase[0] = "attack"
            attack = Attack(http_port, grpc_port, tally)
            memory["peak"] = max(
                memory["peak"], attacked(attack, job_id, args.seconds, processes[0].pid)
            )
            phase[0] = "between"  # what was held is let go: stalls drop it within 5 s
            time.sleep(SETTLE_SECONDS)
            memory[f"after round {round_number}"] = rss_mb(processes[0].pid)
        probing.set()
        prober.join(130)
        started_at = time.monotonic()
        reviews = httpx.post(f"{base}/v1/generate", timeout=120,
                             json={"entity": "review", "count": 5, "context": "a kettle"})  # fmt: skip
        path = reviews.json().get("metadata", {}).get("generation_path", reviews.status_code)
        after = f"{path} in {time.monotonic() - started_at:.2f} s"
    finally:
        processes[0].send_signal(signal.SIGTERM)
        processes[0].wait(120)
        processes[1].kill()
    sys.exit(report(tally, memory, after, (home / "serve.log").read_text()))


if __name__ == "__main__":
    main()
