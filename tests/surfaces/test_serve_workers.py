"""``tda serve --workers 2``: two processes on the same ports, one answer whichever serves.

Every call here opens a connection of its own, so the kernel spreads them over both processes
(SO_REUSEPORT); calls that need the workflow runtime must then work from either one.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc

from .test_serve import Served, serving, until_closed

CONNECTIONS = 16  # all on one process by chance: 2 ** -15
# Each call on a connection of its own (httpx's module functions), waiting as long as a loaded
# machine needs: their default of 5 s ran out while the rest of the suite shared the cores.
get = functools.partial(httpx.get, timeout=120)
post = functools.partial(httpx.post, timeout=120)


@pytest.fixture(scope="module")
def pair() -> Iterator[Served]:
    yield from serving(workers=2)


def children_of(served: Served) -> list[int]:
    pid = served.process.pid
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def worker_pid(served: Served) -> int:
    children = children_of(served)
    assert len(children) == 1, children
    return children[0]


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def fresh_stub(served: Served) -> tuple[grpc.Channel, pb_grpc.TestDataServiceStub]:
    # A subchannel pool of its own: otherwise channels to one target share one connection.
    channel = grpc.insecure_channel(
        f"127.0.0.1:{served.grpc_port}", options=[("grpc.use_local_subchannel_pool", 1)]
    )
    return channel, pb_grpc.TestDataServiceStub(channel)


def url(served: Served, path: str) -> str:
    return f"http://127.0.0.1:{served.http_port}{path}"


def test_both_processes_serve_the_fast_path(pair: Served) -> None:
    processes = (pair.process.pid, worker_pid(pair))
    before = [cpu_ticks(pid) for pid in processes]
    for _ in range(CONNECTIONS):
        answer = post(url(pair, "/v1/generate"), json={"entity": "cart", "count": 10})
        assert answer.status_code == 200 and answer.json()["metadata"]["served_via"] == "fast_path"
        channel, stub = fresh_stub(pair)
        with channel:
            response = stub.GenerateData(pb.GenerateRequest(entity="user", count=5))
        assert response.success and response.record_count == 5
    after = [cpu_ticks(pid) for pid in processes]
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)


def test_a_job_is_one_job_whichever_process_is_asked(pair: Served) -> None:
    # Submitted over fresh connections too: a worker has no workflow runtime of its own.
    submitted = [
        post(
            url(pair, "/v1/jobs"),
            json={"entity": "cart", "count": 2500, "seed": seed, "output_format": "NDJSON"},
        )
        for seed in range(CONNECTIONS // 2)
    ]
    assert [s.status_code for s in submitted] == [202] * len(submitted), [s.text for s in submitted]
    job_ids = [s.json()["job_id"] for s in submitted]
    deadline = time.monotonic() + 300  # eight jobs on a machine the rest of the suite shares
    for job_id in job_ids:
        while (status := get(url(pair, f"/v1/jobs/{job_id}")).json())["status"] == "RUNNING":
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["status"] == "SUCCEEDED", f"{status.get('error')} {status}"
    for _ in range(CONNECTIONS):
        again = get(url(pair, f"/v1/jobs/{job_ids[0]}"))
        assert again.status_code == 200 and again.json()["progress"]["chunks_done"] == 3
        # The links name the port the caller used, not the primary's private one.
        first = again.json()["chunks"][0]["url"]
        assert first.startswith(url(pair, f"/v1/jobs/{job_ids[0]}/chunks/"))
    chunks = [get(c["url"]) for c in status["chunks"]]
    assert [c.text.count("\n") for c in chunks] == [1000, 1000, 500]
    assert get(url(pair, "/v1/jobs/job-doesnotexist")).status_code == 404


def test_model_paths_large_streams_and_health_reach_the_workflow_from_either_process(
    pair: Served,
) -> None:
    for _ in range(CONNECTIONS // 2):
        body = {"entity": "cart", "count": 2, "context": "carts for a family moving house"}
        answer = post(url(pair, "/v1/generate"), json=body).json()
        assert answer["metadata"]["served_via"] == "workflow"
        assert get(url(pair, "/health/ready")).status_code == 200
        channel, stub = fresh_stub(pair)
        with channel:
            model = stub.GenerateData(
                pb.GenerateRequest(entity="cart", count=2, context=str(body["context"]))
            )
            assert model.metadata.served_via == "workflow"
            chunks = list(stub.GenerateDataStream(pb.GenerateRequest(entity="user", count=1200)))
            assert sum(c.record_count for c in chunks) == 1200
            assert chunks[-1].is_final and chunks[-1].metadata.served_via == "workflow"
            assert stub.HealthCheck(pb.HealthCheckRequest()).status == "healthy"


def test_errors_keep_their_field_details_when_relayed(pair: Served) -> None:
    for _ in range(CONNECTIONS // 2):
        channel, stub = fresh_stub(pair)
        with channel, pytest.raises(grpc.RpcError) as raised:
            list(stub.GenerateDataStream(pb.GenerateRequest(entity="cart", count=2_000_000)))
        error = raised.value
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(error)
        assert status is not None
        detail = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(detail)
        assert [v.field for v in detail.field_violations] == ["count"]
        refused = post(url(pair, "/v1/jobs"), json={"entity": "nope", "count": 10})
        assert refused.status_code == 422 and refused.json()["details"][0]["field"] == "entity"


# Found by schemathesis: a control character, percent-encoded, in a path a worker relays
# (the worker rebuilt the URL from the decoded path: httpx refused it, a 500).
ODD_PATHS = (
    "/v1/jobs/%2A1%14%3A%C3%AE%C2%A9W%F3%AE%88%AC/chunks/-64852",
    "/v1/jobs/job%2Fx%20y",
    "/v1/jobs/job-x?history=%00",
)


@pytest.mark.parametrize("path", ODD_PATHS)
def test_an_odd_path_gets_the_same_answer_from_either_process(pair: Served, path: str) -> None:
    answers = {(a.status_code, a.text) for a in (get(url(pair, path)) for _ in range(CONNECTIONS))}
    assert len(answers) == 1, answers
    ((status, _),) = answers
    assert status in (404, 422)


@pytest.mark.parametrize(
    ("route", "coding", "status"),
    [
        ("/v1/jobs", "transfer-encoding: gzip, chunked", 501),
        ("/v1/generate", "transfer-encoding: gzip, chunked", 501),
        ("/v1/jobs", "content-encoding: gzip", 415),
    ],
)
def test_a_coded_body_is_refused_alike_by_either_process(
    pair: Served, route: str, coding: str, status: int
) -> None:
    # A worker's relay drops transfer-encoding (a hop's own) as it forwards: a job submitted
    # "gzip, chunked" to a worker reached the primary as a plain body, and was taken.
    body = b'{"entity": "cart", "count": 3}'
    answers = set()
    for _ in range(CONNECTIONS):
        with socket.create_connection(("127.0.0.1", pair.http_port), timeout=60) as sock:
            chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
            sent = chunked if "chunked" in coding else body
            length = "" if "chunked" in coding else f"content-length: {len(body)}\r\n"
            sock.sendall(
                f"POST {route} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                f"{length}{coding}\r\nconnection: close\r\n\r\n".encode()
                + sent
            )
            answers.add(until_closed(sock).split(b"\r\n", 1)[0])
    assert answers == {
        f"HTTP/1.1 {status} ".encode()
        + (b"Not Implemented" if status == 501 else b"Unsupported Media Type")
    }


def test_a_cancelled_stream_cancels_its_job_from_either_process(pair: Served) -> None:
    def jobs() -> set[str]:  # a stream's job is removed once it is cancelled (or sent)
        return {p.parent.name for p in (pair.home / "jobs").glob("job-*/job.json")}

    before = jobs()
    streams = CONNECTIONS // 2
    for _ in range(streams):
        channel, stub = fresh_stub(pair)
        with channel:
            call = stub.GenerateDataStream(pb.GenerateRequest(entity="cart", count=200_000))
            assert next(call).chunk_index == 0
            assert len(jobs() - before) >= 1
            call.cancel()  # 199 chunks to go: only a cancel stops this job soon
    deadline = time.monotonic() + 60
    while jobs() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert jobs() - before == set()
    written = sum(p.stat().st_size for p in (pair.home / "jobs").rglob("*") if p.is_file())
    time.sleep(2)
    again = sum(p.stat().st_size for p in (pair.home / "jobs").rglob("*") if p.is_file())
    assert again <= written, "cancelled jobs are still writing"


def test_a_stream_nobody_reads_is_ended_and_its_job_removed_in_either_process() -> None:
    """Before: a stream whose caller stopped reading stayed open for good, its job's whole
    output kept on disk (three stalled streams of a million users held 1.4 GB)."""
    served = Served(workers=2, env={"STREAM_STALL_SECONDS": "2"})

    def jobs() -> set[str]:
        return {p.parent.name for p in (served.home / "jobs").glob("job-*/job.json")}

    before = jobs()
    held = []
    for _ in range(4):  # on fresh connections: a worker's (relayed) and the primary's alike
        channel, stub = fresh_stub(served)
        call = stub.GenerateDataStream(pb.GenerateRequest(entity="user", count=50_000))
        assert next(call).chunk_index == 0
        held.append((channel, call))
    deadline = time.monotonic() + 60
    while jobs() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert jobs() - before == set(), "a stalled stream's job is still there"
    for channel, call in held:
        with channel, pytest.raises(grpc.RpcError) as ended:
            for _ in call:  # what the window held, then the end
                pass
        assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "took no message for 2 s" in (ended.value.details() or "")
    answer = post(url(served, "/v1/generate"), json={"entity": "cart", "count": 3})
    assert answer.status_code == 200
    assert served.stop() == 0
    assert "Traceback" not in served.log()


def test_a_worker_that_dies_is_replaced(pair: Served) -> None:
    gone = worker_pid(pair)
    os.kill(gone, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while (children := children_of(pair)) in ([], [gone]):
        assert time.monotonic() < deadline, "no replacement worker"
        time.sleep(0.1)
    (replacement,) = children
    # Started once it sits idle (its imports and handler loads are CPU); then the fresh
    # connections reach it again, and it works for them.
    deadline = time.monotonic() + 120
    while True:
        before = cpu_ticks(replacement)
        time.sleep(1)
        if cpu_ticks(replacement) == before:
            break
        assert time.monotonic() < deadline, "the replacement never settled"
    for _ in range(CONNECTIONS):
        answer = post(url(pair, "/v1/generate"), json={"entity": "cart", "count": 10})
        assert answer.status_code == 200
    assert cpu_ticks(replacement) > before, "the replacement does not serve"


def test_sigterm_stops_the_workers_and_a_worker_outlives_no_primary() -> None:
    served = Served(workers=2)
    worker = worker_pid(served)
    assert served.stop() == 0
    assert not alive(worker)

    orphaned = Served(workers=2)
    worker = worker_pid(orphaned)
    orphaned.process.send_signal(signal.SIGKILL)
    orphaned.process.wait(30)
    deadline = time.monotonic() + 30
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(worker):
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker kept running after its primary was killed")


def test_a_worker_that_relayed_calls_stops_without_a_traceback() -> None:
    """A worker's relay keeps its connections to the primary open; they are closed on the
    HTTP server's own event loop (closed from the main loop, after that loop had ended, each
    stop printed 'RuntimeError: Event loop is closed' with its traceback)."""
    served = Served(workers=2)
    for _ in range(CONNECTIONS):  # /health is the primary's: a worker relays it
        assert get(url(served, "/health")).status_code == 200
    assert served.stop() == 0
    log = served.log()
    assert "shutting down" in log and "Traceback" not in log, log


@pytest.mark.parametrize("workers", ["0", "two", "-1"])
def test_a_bad_worker_count_is_refused_before_anything_starts(workers: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tda_local.cli", "serve", "--workers", workers],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--workers: must be 'auto' or a whole number" in done.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_second_server_cannot_take_over_the_grpc_port(pair: Served, workers: str) -> None:
    # gRPC binds with SO_REUSEPORT, which once let a second `tda serve` (another TDA_HOME)
    # start on the same port and take half the connections and their jobs.
    from .test_serve import free_port

    second = subprocess.run(
        [sys.executable, "-m", "tda_local.cli", "serve", "--grpc-port", str(pair.grpc_port),
         "--http-port", str(free_port()), "--workers", workers],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "TDA_HOME": str(pair.home / "other")},
    )  # fmt: skip
    assert second.returncode != 0
    assert f"cannot serve gRPC on 127.0.0.1:{pair.grpc_port}" in second.stderr
    assert "Traceback" not in second.stderr
    channel = grpc.insecure_channel(f"127.0.0.1:{pair.grpc_port}")
    health = pb_grpc.TestDataServiceStub(channel).HealthCheck(pb.HealthCheckRequest(), timeout=30)
    assert health.status == "healthy"  # the first server is untouched
    channel.close()
