"""``tda serve`` as a user runs it: one process, gRPC and HTTP, stopped with SIGTERM."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import jsonschema
import pytest
from google.protobuf.json_format import Parse

from tda.app.service import plan_request
from tda.domain.contract import GenerateRequest, OutputFormat
from tda.paths.traditional.bulk import stream_output
from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc

from ..conftest import session_folder
from ..unit.test_bad_input import BAD_REQUESTS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (its head and body may come apart); fails
    if it keeps the connection 30 s."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the server kept the connection open (received {received[:120]!r})")
    finally:
        sock.close()
    return received


class Served:
    def __init__(
        self,
        home: Path | None = None,
        workers: int = 1,
        *options: str,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = f"[{host}]" if ":" in host else host  # as a URL or gRPC target has it
        self.home = home or Path(session_folder("tda-serve-"))
        env = {
            **os.environ,
            "TDA_HOME": str(self.home),
            "JOB_CHUNK_RECORDS": "1000",
            **(env or {}),
        }
        # A port found free may be taken before the server binds it (another test's outgoing
        # connection, from the same ephemeral range): then two other ports, a few times.
        for _ in range(5):
            self.grpc_port, self.http_port = free_port(), free_port()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tda_local.cli", "serve", "--grpc-port", str(self.grpc_port),
                 "--http-port", str(self.http_port), "--workers", str(workers), "--host", host,
                 *options],
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )  # fmt: skip
            self.http = httpx.Client(base_url=f"http://{self.host}:{self.http_port}", timeout=60)
            said = self._up_or_said()
            if "Address already in use" not in said:
                break
            self.http.close()
        assert not said, said
        # The primary answers before its workers are up; it says so once they all are.
        assert self.process.stderr is not None
        self.log_lines: list[str] = []
        while not (line := self.process.stderr.readline()).startswith("tda serve: gRPC on"):
            assert line, "tda serve exited before it was serving"
            self.log_lines.append(line)
        self.log_lines.append(line)
        # Drained all along: a server that logs a lot never blocks on a full pipe, and a failed
        # test shows what the server said (tests/surfaces/conftest.py adds it to the report).
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()

    def _up_or_said(self) -> str:
        """'' once the server answers, or what it said when it exited before."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return self.process.stderr.read() if self.process.stderr else "exited"
            try:
                if self.http.get("/health/live").status_code == 200:
                    return ""
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("tda serve did not come up")

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log_lines.append(line)

    def log(self) -> str:
        """What the server wrote to stderr so far (all of it once it has exited)."""
        if self.process.poll() is not None:
            self._drain.join(10)
        return "".join(self.log_lines)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


def finished(served: Served, job_id: str) -> dict[str, Any]:
    """The job's status once it is no longer RUNNING (within a minute)."""
    deadline = time.monotonic() + 60
    while (status := served.http.get(f"/v1/jobs/{job_id}").json())["status"] == "RUNNING":
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    result: dict[str, Any] = status
    return result


def serving(workers: int = 1) -> Iterator[Served]:
    """A server for a module's tests, stopped after them (if a test has not stopped it)."""
    server = Served(workers=workers)
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    yield from serving()


def test_http_generate_with_seed_is_reproducible_and_matches_grpc(served: Served) -> None:
    body = {"entity": "order", "count": 7, "seed": 5, "output_format": "JSON"}
    first = served.http.post("/v1/generate", json=body)
    assert first.status_code == 200
    payload = first.json()
    assert payload["success"] and payload["record_count"] == 7
    assert served.http.post("/v1/generate", json=body).json()["data"] == payload["data"]
    with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        stub = pb_grpc.TestDataServiceStub(channel)
        over_grpc = stub.GenerateData(Parse(json.dumps(body), pb.GenerateRequest()))
    assert json.loads(over_grpc.data) == json.loads(payload["data"])


@pytest.mark.parametrize(
    ("body", "field", "words"), [pytest.param(b, f, w, id=i) for i, b, f, w in BAD_REQUESTS]
)
def test_http_bad_input_is_422_naming_the_field(
    served: Served, body: dict[str, Any], field: str, words: str
) -> None:
    response = served.http.post("/v1/generate", json=body)
    assert response.status_code == 422
    payload = response.json()
    assert payload["success"] is False and words in payload["error"]
    assert any(d["field"].startswith(field) for d in payload["details"])


def tda(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    api = f"http://127.0.0.1:{served.http_port}"
    return subprocess.run(
        [sys.executable, "-m", "tda_local.cli", "jobs", "--api", api, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_job_submitted_with_the_cli_runs_through_the_workflow_and_fetches_whole(
    served: Served, tmp_path: Path
) -> None:
    submitted = tda(served, "submit", "cart", "--count", "2500", "--seed", "8", "--wait")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.split()[0]
    assert "SUCCEEDED: 3/3 chunks" in submitted.stderr

    status = served.http.get(f"/v1/jobs/{job_id}").json()
    assert status["status"] == "SUCCEEDED" and status["progress"] == {
        "chunks_done": 3,
        "chunks_total": 3,
    }
    assert [c["record_count"] for c in status["chunks"]] == [1000, 1000, 500]
    first = served.http.get(status["chunks"][0]["url"])
    assert first.status_code == 200 and first.headers["content-type"] == "application/x-ndjson"
    assert first.text.count("\n") == 1000

    out = tmp_path / "carts.ndjson"
    fetched = tda(served, "fetch", job_id, "-o", str(out))
    assert fetched.returncode == 0, fetched.stderr
    whole = b"".join(
        stream_output(
            plan_request(GenerateRequest(entity="cart", count=2500, seed=8)), OutputFormat.NDJSON
        )
    )
    assert out.read_bytes() == whole  # chunked through the workflow = generated at once

    history = tda(served, "status", job_id, "--history")
    assert history.returncode == 0
    for step in ("ExecutionStarted", "TaskStateEntered PlanJob", "MapStateEntered Chunks",
                 "TaskStateEntered Finalize", "ExecutionSucceeded"):  # fmt: skip
        assert step in history.stdout


def test_a_cli_job_takes_scenarios_overrides_and_shows_its_chunk_links(served: Served) -> None:
    api = f"http://127.0.0.1:{served.http_port}"
    submitted = subprocess.run(
        [sys.executable, "-m", "tda_local.cli", "jobs", "submit", "order", "--count", "1500",
         "--seed", "2", "--scenario", "happy=1000", "--scenario", "refund=500", "--override",
         "refund.status=refunded", "--wait", "--api", api],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.split()[0]
    shown = json.loads(tda(served, "status", job_id).stdout)
    assert [c["url"].rsplit("/", 1)[1] for c in shown["chunks"]] == ["0", "1"]
    last = served.http.get(shown["chunks"][1]["url"]).text.splitlines()
    assert {json.loads(line)["status"] for line in last} == {"refunded"}


def test_a_json_job_fetches_as_one_array_and_a_finished_job_cannot_be_cancelled(
    served: Served, tmp_path: Path
) -> None:
    submitted = tda(served, "submit", "user", "--count", "2100", "--seed", "4", "--format",
                    "json", "--wait")  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.split()[0]
    out = tmp_path / "users.json"
    assert tda(served, "fetch", job_id, "-o", str(out)).returncode == 0
    records = json.loads(out.read_text())  # three chunks, one array
    whole = stream_output(plan_request(GenerateRequest(entity="user", count=2100, seed=4)),
                          OutputFormat.JSON)  # fmt: skip
    assert records == json.loads(b"".join(whole)) and len(records) == 2100
    late = tda(served, "cancel", job_id)
    assert late.returncode == 1 and late.stdout.strip() == "SUCCEEDED"
    assert tda(served, "cancel", "job-doesnotexist").returncode == 1


def test_model_paths_and_large_streams_go_through_the_workflow(served: Served) -> None:
    body = {"entity": "cart", "count": 3, "context": "carts for a family moving house"}
    answer = served.http.post("/v1/generate", json=body).json()
    assert answer["metadata"]["served_via"] == "workflow"
    # The OpenAI-compatible server (the session's scripted one) is the only model: its state
    # is the first one run, and nothing failed on the way.
    assert (answer["metadata"]["generation_path"], answer["metadata"]["fallback_reason"]) == (
        "llm",
        "",
    )
    with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        stub = pb_grpc.TestDataServiceStub(channel)
        request = pb.GenerateRequest(entity="order", count=2500, seed=6)
        chunks = list(stub.GenerateDataStream(request))
    assert sum(c.record_count for c in chunks) == 2500 and chunks[-1].is_final
    job = chunks[-1].metadata.execution_arn.rsplit(":", 1)[-1]
    assert chunks[-1].metadata.served_via == "workflow" and job.startswith("job-")
    # A stream's job is temporary: once sent, it is removed with everything it wrote.
    deadline = time.monotonic() + 30
    while served.http.get(f"/v1/jobs/{job}").status_code != 404:
        assert time.monotonic() < deadline, "the stream's job was not removed"
        time.sleep(0.1)
    assert not (served.home / "jobs" / job).exists()


def test_a_finished_job_survives_a_restart_of_the_server(tmp_path: Path) -> None:
    first = Served(home=tmp_path)
    try:
        submitted = tda(first, "submit", "payment", "--count", "1500", "--seed", "2", "--wait")
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.split()[0]
        before = first.http.get(f"/v1/jobs/{job_id}").json()
    finally:
        assert first.stop() == 0
    second = Served(home=tmp_path)  # a new process: moto's executions are gone
    try:
        after = second.http.get(f"/v1/jobs/{job_id}").json()
        assert after["status"] == "SUCCEEDED" and after["progress"] == before["progress"]
        assert after["metadata"]["seed"] == 2 and after["record_count"] == 1500
        chunk = second.http.get(f"/v1/jobs/{job_id}/chunks/1")
        assert chunk.status_code == 200 and chunk.text.count("\n") == 500
        history = tda(second, "status", job_id, "--history")
        assert history.returncode == 1 and "no execution history here" in history.stderr
    finally:
        second.stop()


def test_a_cli_submit_waits_out_a_busy_server_for_as_long_as_it_was_told(
    tmp_path: Path,
) -> None:
    """``--retry-busy SECONDS``: a 429 is tried again after the server's Retry-After, until it
    is taken or SECONDS have passed; without it, the 429 is the answer, saying how to wait."""
    server = Served(home=tmp_path, env={"MAX_RUNNING_JOBS": "1"})
    try:
        big = {"entity": "user", "count": 1_000_000, "seed": 3}
        running = server.http.post("/v1/jobs?max_concurrency=1", json=big)
        assert running.status_code == 202
        small = ("submit", "cart", "--count", "10", "--seed", "4")
        refused = tda(server, *small)
        assert refused.returncode == 1 and "HTTP 429" in refused.stderr
        assert "--retry-busy" in refused.stderr
        gave_up = tda(server, *small, "--retry-busy", "1")
        assert gave_up.returncode == 1 and "HTTP 429" in gave_up.stderr
        assert "still busy after 1 s" in gave_up.stderr
        api = f"http://127.0.0.1:{server.http_port}"
        waiting = subprocess.Popen(
            [sys.executable, "-m", "tda_local.cli", "jobs", "--api", api, *small,
             "--retry-busy", "120", "--wait"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert waiting.stderr is not None
        told = waiting.stderr.readline()
        assert "server busy" in told and "trying again in 5 s" in told, told
        cancelled = server.http.delete(f"/v1/jobs/{running.json()['job_id']}")
        assert cancelled.status_code == 200
        out, err = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, err
        assert out.startswith("job-") and "SUCCEEDED: 1/1 chunks" in err
        for bad in ("-1", "nan", "1e9", "soon"):
            wrong = tda(server, *small, "--retry-busy", bad)
            assert wrong.returncode == 2 and "--retry-busy" in wrong.stderr, bad
    finally:
        server.stop()


def test_a_job_with_hundreds_of_problems_names_the_first_and_counts_the_rest(
    served: Served, tmp_path: Path
) -> None:
    fields = [{"name": f"f{i}", "type": "INTEGER"} for i in range(500)]
    constraints = {f"f{i}": {"min": 10, "max": 1} for i in range(500)}
    schema = tmp_path / "many.json"
    schema.write_text(json.dumps({"fields": fields, "constraints": constraints}))
    bad = tda(served, "submit", "thing", "--schema", str(schema), "--count", "10")
    assert bad.returncode == 2 and "HTTP 422" in bad.stderr
    assert bad.stderr.count("is greater than max") == 20
    assert bad.stderr.endswith("; and 480 more\n") and bad.stderr.count("\n") == 1


def test_job_bad_input_and_unknown_jobs_are_refused_clearly(served: Served) -> None:
    bad = tda(served, "submit", "cart", "--count", "2000000")
    assert bad.returncode == 2 and "count" in bad.stderr and "HTTP 422" in bad.stderr
    response = served.http.post("/v1/jobs", json={"entity": "nope", "count": 10})
    assert response.status_code == 422 and response.json()["details"][0]["field"] == "entity"
    # Digits Python's int reads and isdigit() takes, but no ASCII: '²' was a 500 (int() refused
    # what isdigit() let through), Arabic-Indic '٣' a job of 3.
    for value in ("0", "41", "many", "²", "٣"):
        response = served.http.post(
            f"/v1/jobs?max_concurrency={value}", json={"entity": "cart", "count": 10}
        )
        assert response.status_code == 422, value
        assert response.json()["details"][0]["field"] == "max_concurrency"
    missing = tda(served, "status", "job-doesnotexist")
    assert missing.returncode == 1 and "HTTP 404" in missing.stderr
    assert served.http.get("/v1/jobs/..%2Fetc/chunks/0").status_code in (404, 422)


def test_http_limits_schemas_health_and_docs(served: Served) -> None:
    too_big = served.http.post("/v1/generate", content=b'{"context": "' + b"x" * (2 << 20) + b'"}')
    assert too_big.status_code == 413 and too_big.json()["details"][0]["field"] == "body"
    assert [
        s["name"] for s in served.http.get("/v1/schemas", params={"domain": "ecommerce"}).json()
    ]
    assert served.http.get("/v1/schemas", params={"domain": "nope"}).json() == []
    assert served.http.get("/health").json()["status"] == "healthy"
    assert served.http.get("/health/ready").status_code == 200
    assert served.http.get("/docs").status_code == 200
    assert "/v1/generate" in served.http.get("/openapi.json").json()["paths"]


def test_sigterm_lets_an_in_flight_stream_finish() -> None:
    served = Served()  # its own: stopping the module's server would fail the tests after it
    channel = grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}")
    stub = pb_grpc.TestDataServiceStub(channel)
    call = stub.GenerateDataStream(
        Parse('{"entity": "cart", "count": 30000}', pb.GenerateRequest())
    )
    received: list[Any] = [next(call)]
    reader = threading.Thread(target=lambda: received.extend(call))
    reader.start()
    assert served.stop() == 0
    reader.join(60)
    channel.close()
    assert received[-1].is_final and sum(c.record_count for c in received) == 30000
    stderr = served.log()
    assert "shutting down" in stderr and "Traceback" not in stderr


def landed(served: Served, job_id: str) -> int:
    return len(list((served.home / "jobs" / job_id).glob("chunk-*.parts.json")))


def test_a_cancelled_job_stops_writing_and_every_answer_agrees(served: Served) -> None:
    accepted = served.http.post(
        "/v1/jobs?max_concurrency=2", json={"entity": "cart", "count": 1_000_000, "seed": 3}
    ).json()
    job_id = accepted["job_id"]
    deadline = time.monotonic() + 60
    while landed(served, job_id) < 2:
        assert time.monotonic() < deadline, "no chunk landed"
        time.sleep(0.05)
    first = served.http.delete(f"/v1/jobs/{job_id}").json()
    assert first == {"job_id": job_id, "status": "ABORTED", "cancelled": True}
    time.sleep(1.5)  # writers stop at their next part (every 50 records)
    settled = landed(served, job_id)
    time.sleep(2)
    assert landed(served, job_id) == settled, "chunks kept landing after the cancel"
    assert settled < 1000
    again = served.http.delete(f"/v1/jobs/{job_id}").json()
    assert again == {"job_id": job_id, "status": "ABORTED", "cancelled": False}
    status = served.http.get(f"/v1/jobs/{job_id}").json()
    assert status["status"] == "ABORTED" and status["error"]["error"] == "Cancelled"
    assert status["progress"]["chunks_done"] == len(status["chunks"]) >= 2
    assert served.http.get(status["chunks"][0]["url"]).status_code == 200
    assert not status["chunks"][0]["location"].startswith("/")  # no server paths
    removed = served.http.delete(f"/v1/jobs/{job_id}?purge=true").json()
    assert removed["removed"] is True
    assert served.http.get(f"/v1/jobs/{job_id}").status_code == 404
    assert not (served.home / "jobs" / job_id).exists()


def test_a_job_cut_off_by_a_restart_fails_with_its_reason(tmp_path: Path) -> None:
    first = Served(home=tmp_path)
    job_id = first.http.post("/v1/jobs", json={"entity": "user", "count": 1_000_000}).json()[
        "job_id"
    ]
    deadline = time.monotonic() + 60
    while landed(first, job_id) < 1:
        assert time.monotonic() < deadline, "no chunk landed"
        time.sleep(0.05)
    first.process.kill()  # as a crash, or a stop that does not wait for jobs
    first.process.wait(60)
    second = Served(home=tmp_path)
    try:
        status = second.http.get(f"/v1/jobs/{job_id}").json()
        assert status["status"] == "FAILED" and status["error"]["error"] == "ExecutionLost"
        assert status["progress"]["chunks_done"] >= 1
        cancelled = second.http.delete(f"/v1/jobs/{job_id}").json()
        assert cancelled == {"job_id": job_id, "status": "FAILED", "cancelled": False}
        api = f"http://127.0.0.1:{second.http_port}"
        removed = subprocess.run(
            [sys.executable, "-m", "tda_local.cli", "jobs", "rm", job_id, "--api", api],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert removed.returncode == 0, removed.stderr
        assert not (tmp_path / "jobs" / job_id).exists()  # partial writes included
    finally:
        second.stop()


def test_jobs_gc_removes_old_local_jobs_and_shows_disk_use(served: Served) -> None:
    job_id = served.http.post("/v1/jobs", json={"entity": "cart", "count": 1500}).json()["job_id"]
    finished(served, job_id)
    env = {**os.environ, "TDA_HOME": str(served.home)}
    kept = subprocess.run(
        [sys.executable, "-m", "tda_local.cli", "jobs", "gc"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert kept.returncode == 0 and kept.stdout.startswith("removed 0 jobs")
    assert (served.home / "jobs" / job_id).exists()
    swept = subprocess.run(
        [sys.executable, "-m", "tda_local.cli", "jobs", "gc", "--days", "0"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    # Another test's job may be running meanwhile on this module's server, and stay.
    assert swept.returncode == 0, swept.stderr
    assert re.match(r"removed [1-9]\d* jobs \(.+\); \d+ jobs remain in ", swept.stdout), (
        swept.stdout
    )
    assert not (served.home / "jobs" / job_id).exists()
    # The running-jobs marks (MAX_RUNNING_JOBS) are no job: neither counted nor removed.
    assert (served.home / "jobs" / "callers").is_dir()


def test_access_log_has_a_line_per_call_on_both_transports(tmp_path: Path) -> None:
    logged = Served(tmp_path, 2, "--access-log")
    try:
        for _ in range(4):  # fresh connections: either process may answer
            assert (
                httpx.post(
                    f"http://127.0.0.1:{logged.http_port}/v1/generate",
                    json={"entity": "user", "count": 2},
                ).status_code
                == 200
            )
            with grpc.insecure_channel(f"127.0.0.1:{logged.grpc_port}") as channel:
                stub = pb_grpc.TestDataServiceStub(channel)
                with pytest.raises(grpc.RpcError):
                    stub.GenerateData(pb.GenerateRequest(entity="nope", count=1), timeout=30)
                # A stream written with context.write, logged as an async generator's was.
                streamed = stub.GenerateDataStream(pb.GenerateRequest(entity="user", count=20))
                assert sum(c.record_count for c in streamed) == 20
    finally:
        assert logged.stop() == 0
    stderr = logged.log()
    assert stderr.count("access http POST /v1/generate 200") == 4, stderr
    assert (
        stderr.count("access grpc /testdata.v1.TestDataService/GenerateData INVALID_ARGUMENT") == 4
    )
    assert stderr.count("access grpc /testdata.v1.TestDataService/GenerateDataStream OK") == 4


@pytest.mark.parametrize("workers", [1, 2])
def test_it_serves_on_an_ipv6_address(tmp_path: Path, workers: int) -> None:
    """``--host ::1``: gRPC was handed ``::1:PORT``, which it cannot read (a traceback)."""
    served = Served(tmp_path, workers, host="::1")
    try:
        said = served.log_lines[-1]
        assert said.startswith(
            f"tda serve: gRPC on [::1]:{served.grpc_port}, HTTP on http://[::1]:{served.http_port} "
        ), said
        for _ in range(4):  # fresh connections: either process may answer
            answer = httpx.post(
                f"http://[::1]:{served.http_port}/v1/generate", json={"entity": "user", "count": 2}
            )
            assert answer.status_code == 200 and answer.json()["record_count"] == 2
            with grpc.insecure_channel(f"[::1]:{served.grpc_port}") as channel:
                stub = pb_grpc.TestDataServiceStub(channel)
                reply = stub.GenerateData(pb.GenerateRequest(entity="user", count=3), timeout=30)
                assert reply.record_count == 3
    finally:
        assert served.stop() == 0


def test_a_request_id_names_one_job(served: Served) -> None:
    body = {"request_id": "nightly-42", "entity": "cart", "count": 1500, "seed": 1}
    first = served.http.post("/v1/jobs", json=body)
    again = served.http.post("/v1/jobs", json=body)
    assert first.status_code == again.status_code == 202
    assert again.json()["job_id"] == first.json()["job_id"] and again.json()["existing"] is True
    other = served.http.post("/v1/jobs", json={**body, "count": 1600})
    assert other.status_code == 409 and other.json()["details"][0]["field"] == "request_id"
    unnamed = [served.http.post("/v1/jobs", json={"entity": "cart", "count": 1500}) for _ in "ab"]
    assert unnamed[0].json()["job_id"] != unnamed[1].json()["job_id"]  # no id: a job each


SEED_LLM_EXAMPLES = [
    {
        "request_id": "req-llm-001",
        "domain": "ecommerce",
        "entity": "cart",
        "count": 5,
        "context": "Generate shopping carts for fitness enthusiasts preparing for a marathon",
        "hints": ["realistic", "coherent"],
    },
    {
        "request_id": "req-review-001",
        "domain": "ecommerce",
        "entity": "review",
        "count": 10,
        "context": "Product reviews for athletic shoes with varied sentiment",
    },
]


def _assert_llm_served(meta: dict[str, Any], records: list[dict[str, Any]], count: int) -> None:
    assert meta["generation_path"] == "llm" and meta["served_via"] == "workflow"
    assert meta["llm"]["calls"] >= 1 and meta["llm_tokens_used"] > 0
    assert meta["llm"]["records_filled"] == 0 and meta["coherence_score"] == 1.0
    assert len(records) == count
    for record in records:
        if "items" in record:
            lines = [round(i["price"] * 100) * i["quantity"] for i in record["items"]]
            assert round(record["subtotal"] * 100) == sum(lines)
            assert round(record["total"] * 100) == round(record["subtotal"] * 100) + round(
                record["tax"] * 100
            )


@pytest.mark.parametrize("example", SEED_LLM_EXAMPLES, ids=lambda e: e["entity"])
def test_the_seed_llm_examples_are_served_by_the_llm_over_http_grpc_and_the_cli(
    served: Served, example: dict[str, Any], tmp_path: Path
) -> None:
    # The server's environment names the session's scripted OpenAI-compatible server.
    answer = served.http.post("/v1/generate", json=example).json()
    _assert_llm_served(answer["metadata"], json.loads(answer["data"]), example["count"])
    with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        response = pb_grpc.TestDataServiceStub(channel).GenerateData(
            Parse(json.dumps(example), pb.GenerateRequest())
        )
    from google.protobuf.json_format import MessageToDict

    meta = MessageToDict(
        response.metadata,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
    assert meta["llm"]["provider"] == "openai"
    meta["llm_tokens_used"] = int(meta["llm_tokens_used"])
    _assert_llm_served(meta, json.loads(response.data), example["count"])
    out = tmp_path / "out.json"
    hints = [arg for hint in example.get("hints", []) for arg in ("--hint", hint)]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tda_local.cli",
            "generate",
            example["entity"],
            "--count",
            str(example["count"]),
            "--context",
            example["context"],
            *hints,
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "path llm" in done.stderr and "llm: records mode" in done.stderr
    assert len(json.loads(out.read_text())) == example["count"]


ANSWERS: list[tuple[str, str, str, dict[str, Any], int]] = [
    ("post", "/v1/generate", "/v1/generate", {"json": {"entity": "cart", "count": 2}}, 200),
    ("post", "/v1/generate", "/v1/generate", {"json": {"entity": "order", "count": 2,
     "output_format": "CSV", "scenarios": [{"name": "refund", "count": 2}]}}, 200),
    ("get", "/v1/schemas", "/v1/schemas?domain=ecommerce", {}, 200),
    ("post", "/v1/jobs", "/v1/jobs", {"json": {"entity": "user", "count": 2}}, 202),
    ("post", "/v1/generate", "/v1/generate", {"json": {"entity": "cart", "count": -1}}, 422),
    ("post", "/v1/generate", "/v1/generate", {"content": b"{" + b" " * (2 << 20) + b"}"}, 413),
    ("post", "/v1/jobs", "/v1/jobs", {"json": {"entity": "cart", "count": 0}}, 422),
    ("get", "/v1/jobs/{job_id}", "/v1/jobs/job-none", {}, 404),
    ("delete", "/v1/jobs/{job_id}", "/v1/jobs/job-none", {}, 404),
    ("get", "/v1/jobs/{job_id}/chunks/{index}", "/v1/jobs/job-none/chunks/0", {}, 404),
]  # fmt: skip


def test_every_status_the_api_answers_is_in_its_openapi_with_the_body_it_has(
    served: Served,
) -> None:
    # A client generated from /openapi.json, or a tool checking answers against it
    # (schemathesis), knew only 200 for /v1/generate: every refusal was undocumented.
    # Each answer's body is validated against the schema the document gives it: the success
    # bodies were documented under pydantic's camelCase aliases, which the wire never uses.
    document = served.http.get("/openapi.json").json()
    paths = document["paths"]
    for method, route, url, options, status in ANSWERS:
        answer = served.http.request(method, url, **options)
        assert answer.status_code == status, (url, answer.text)
        documented = paths[route][method]["responses"]
        assert str(status) in documented, (method, route, status)
        errors = _against_document(document, route, method, answer)
        assert not errors, (method, url, errors[:5])
    for route, method in (("/v1/generate", "post"), ("/v1/jobs", "post")):
        busy = paths[route][method]["responses"]["429"]
        assert "Retry-After" in busy["headers"]


def test_the_openapi_document_holds_what_it_refers_to_and_the_wires_names(
    served: Served,
) -> None:
    # schemathesis could not read the request body (pydantic's "#/$defs/..." references point
    # nowhere in an OpenAPI document), found POST /v1/jobs without a body, job ids of any
    # text, and a 405 whose Allow named GET alone for a path DELETE also takes.
    document = served.http.get("/openapi.json").json()

    def references(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from references(value)
        elif isinstance(node, list):
            for value in node:
                yield from references(value)

    components = document["components"]["schemas"]
    for reference in references(document):
        assert reference.removeprefix("#/components/schemas/") in components, reference
    # Every 422 is the service's {error, details}, never FastAPI's own {detail} shape.
    assert "HTTPValidationError" not in json.dumps(document["paths"])
    request = components["GenerateRequest"]["properties"]
    assert "schema" in request and "schema_" not in request
    assert request["count"]["minimum"] == 1
    for route in ("/v1/generate", "/v1/jobs"):
        body = document["paths"][route]["post"]["requestBody"]
        assert body["required"] is True
    status = document["paths"]["/v1/jobs/{job_id}"]["get"]["parameters"][0]
    assert status["name"] == "job_id" and "pattern" in status["schema"]
    not_allowed = served.http.request("PUT", "/v1/jobs/job-none")
    assert not_allowed.status_code == 405
    assert not_allowed.headers["allow"] == "DELETE, GET, HEAD"
    assert not_allowed.json()["success"] is False
    nowhere = served.http.get("/v1/nowhere")
    assert nowhere.status_code == 404 and nowhere.json()["error"] == "Not Found"


def test_head_is_answered_wherever_get_is_with_the_same_head_and_no_body(served: Served) -> None:
    # Before: every HEAD was 405, though its Allow header named HEAD (RFC 9110: a server
    # that takes GET takes HEAD; load balancers' health checks send it).
    submitted = served.http.post("/v1/jobs", json={"entity": "cart", "count": 30, "seed": 2})
    job = submitted.json()["job_id"]
    deadline = time.monotonic() + 60
    while served.http.get(f"/v1/jobs/{job}").json()["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    for url in ("/health", "/health/ready", "/v1/schemas", f"/v1/jobs/{job}/chunks/0", "/docs"):
        got, head = served.http.get(url), served.http.head(url)
        assert head.status_code == got.status_code == 200, (url, head.text)
        assert head.content == b"", url
        assert head.headers["content-type"] == got.headers["content-type"], url
        assert head.headers["content-length"] == str(len(got.content)), url
    assert served.http.head("/v1/jobs/job-none").status_code == 404
    not_allowed = served.http.head("/v1/generate")
    assert not_allowed.status_code == 405 and not_allowed.headers["allow"] == "POST"
    assert served.http.get("/health").status_code == 200  # the connection still answers


def test_a_compressed_body_is_refused_415_naming_the_encoding(served: Served) -> None:
    # Before: a gzipped body was read as it came, and refused as "not valid JSON (str is not
    # valid UTF-8 ...)"; a body labelled gzip that was not was served as if unlabelled.
    body = json.dumps({"entity": "cart", "count": 1}).encode()
    for route in ("/v1/generate", "/v1/jobs"):
        for encoding, sent in (("gzip", gzip.compress(body)), ("br", body), ("GZIP, br", body)):
            headers = {"content-type": "application/json", "content-encoding": encoding}
            refused = served.http.post(route, content=sent, headers=headers)
            assert refused.status_code == 415, (route, encoding, refused.text)
            assert refused.json()["details"] == [
                {
                    "field": "content-encoding",
                    "message": f"{encoding!r} is not taken: send the body uncompressed",
                }
            ]
        plain = {"content-type": "application/json", "content-encoding": "identity"}
        assert served.http.post(route, content=body, headers=plain).status_code in (200, 202)
    document = served.http.get("/openapi.json").json()
    for route in ("/v1/generate", "/v1/jobs"):
        assert "415" in document["paths"][route]["post"]["responses"]
    # A transfer coding besides chunked (gzip, chunked) was undone in part: the chunks read,
    # their gzip not, and a body so labelled that was not gzip was served.
    with socket.create_connection(("127.0.0.1", served.http_port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: gzip, chunked\r\nconnection: close\r\n\r\n"
            + f"{len(body):x}\r\n".encode()
            + body
            + b"\r\n0\r\n\r\n"
        )
        answer = until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 501 "), answer[:300]
    assert b"'gzip, chunked': only chunked is taken" in answer


def test_a_submitted_jobs_answer_is_documented_and_links_to_the_routes_that_follow_it(
    served: Served,
) -> None:
    # schemathesis' stateful phase met only 404s for a job's routes: nothing in the document
    # said that POST /v1/jobs answers the job_id they take. Each link is followed here as a
    # client would, from a real submit's answer.
    document = served.http.get("/openapi.json").json()
    accepted = document["paths"]["/v1/jobs"]["post"]["responses"]["202"]
    schema = accepted["content"]["application/json"]["schema"]
    answer = served.http.post(
        "/v1/jobs", json={"entity": "cart", "count": 3, "seed": 5, "output_format": "CSV"}
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert set(schema["required"]) <= set(body) <= set(schema["properties"])
    assert re.fullmatch(schema["properties"]["job_id"]["pattern"], body["job_id"])
    links = accepted["links"]
    assert set(links) == {"status", "cancel"}  # chunks: listed by the status once written

    def follow(name: str) -> httpx.Response:
        link = links[name]
        route, method = _operation(document, link["operationRef"])
        url = route
        for parameter, value in link["parameters"].items():
            if isinstance(value, str) and value.startswith("$response.body#/"):
                value = body[value.removeprefix("$response.body#/")]
            url = url.replace(f"{{{parameter}}}", str(value))
        followed = served.http.request(method, url)
        assert followed.status_code == 200, (name, url, followed.text)
        errors = _against_document(document, route, method, followed)
        assert not errors, (name, errors[:5])  # each body as documented (they were {})
        return followed

    deadline = time.monotonic() + 60
    while follow("status").json()["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
    status = follow("status").json()
    assert status["status"] == "SUCCEEDED"
    history = served.http.get(f"/v1/jobs/{body['job_id']}", params={"history": "true"})
    assert history.json()["history"], history.text
    assert not _against_document(document, "/v1/jobs/{job_id}", "get", history)
    chunk = served.http.get(status["chunks"][0]["url"])
    assert chunk.status_code == 200 and len(chunk.text.splitlines()) == 1 + 3
    chunk_route = document["paths"]["/v1/jobs/{job_id}/chunks/{index}"]["get"]
    media_type = chunk.headers["content-type"].split(";")[0]
    assert media_type in chunk_route["responses"]["200"]["content"]  # text/csv, not JSON
    beyond = served.http.get(status["chunks"][0]["url"].replace("/chunks/0", "/chunks/1"))
    assert beyond.status_code == 404, beyond.text  # no such chunk (was a 422 on "chunk")
    assert "no chunk 1" in beyond.json()["error"]
    assert follow("cancel").json()["status"] == "SUCCEEDED"  # a finished job stays as it is


def test_the_request_bodys_documented_example_is_one_the_service_accepts(served: Served) -> None:
    # /docs' "Try it out" fills the body from the example, as schemathesis' example phase
    # sends it: without one, the body was the schema's defaults (no entity), answered 422.
    document = served.http.get("/openapi.json").json()
    for route, accepted in (("/v1/generate", 200), ("/v1/jobs", 202)):
        body = document["paths"][route]["post"]["requestBody"]["content"]["application/json"]
        answer = served.http.post(route, json=body["example"])
        assert answer.status_code == accepted, (route, answer.text)


def _against_document(
    document: dict[str, Any], route: str, method: str, answer: httpx.Response
) -> list[str]:
    """What in ``answer``'s JSON body breaks the schema the document gives its status."""
    responses = document["paths"][route][method]["responses"]
    assert str(answer.status_code) in responses, (method, route, answer.status_code)
    schema = responses[str(answer.status_code)]["content"]["application/json"]["schema"]
    assert schema, (method, route, answer.status_code, "documented as {}: anything")
    judge = jsonschema.Draft202012Validator({**schema, "components": document["components"]})
    return [f"{list(e.absolute_path)}: {e.message}" for e in judge.iter_errors(answer.json())]


def _operation(document: dict[str, Any], reference: str) -> tuple[str, str]:
    """The path and method an OpenAPI operationRef (``#/paths/<escaped path>/<method>``) names."""
    escaped, method = reference.removeprefix("#/paths/").rsplit("/", 1)
    route = escaped.replace("~1", "/").replace("~0", "~")
    assert method in document["paths"][route], reference
    return route, method


# (a caller's schema fields, whether the service takes them)
FIELD_RULES: list[tuple[list[dict[str, Any]], bool]] = [
    ([{"name": "note", "type": "STRING", "nested_fields": [{"name": "x"}]}], False),
    ([{"name": "note", "nested_fields": [{"name": "x"}]}], False),  # a STRING by default
    ([{"name": "meta", "type": "OBJECT"}], False),
    ([{"name": "meta", "type": "OBJECT", "nested_fields": [{"name": "x"}]}], True),
    ([{"name": "tags", "type": "ARRAY", "nested_fields": [{"name": "", "type": "UUID"}]}], True),
    ([{"name": "home", "type": "ADDRESS"}], True),
    ([{"name": "0x", "type": "STRING"}], False),
    ([{"name": "a b", "type": "STRING"}], False),
    ([{"name": "", "type": "STRING"}], False),
    ([{"type": "STRING"}], False),
    ([{"name": "tags", "type": "ARRAY", "nested_fields": [{"type": "UUID"}]}], True),
    ([{"name": "meta", "type": "OBJECT", "nested_fields": [{"name": ""}]}], False),
    ([{"name": "rows", "type": "ARRAY", "nested_fields": [{"name": ""}, {"name": "x"}]}], False),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "taken"), FIELD_RULES)
def test_the_documented_request_schema_agrees_with_the_service_on_a_schemas_fields(
    served: Served, fields: list[dict[str, Any]], taken: bool
) -> None:
    # schemathesis sent what the document allowed and the service refused (a STRING with
    # nested_fields): the document now says what JSON Schema can of a field's rules.
    document = served.http.get("/openapi.json").json()
    request = {"schema": {"fields": fields}, "count": 2}
    answer = served.http.post("/v1/generate", json=request)
    assert answer.status_code == (200 if taken else 422), answer.text
    assert _request_judge(document).is_valid(request) is taken


def test_the_documented_request_schema_requires_a_count_as_the_service_does(
    served: Served,
) -> None:
    document = served.http.get("/openapi.json").json()
    for request in ({}, {"entity": "cart"}):
        assert served.http.post("/v1/generate", json=request).status_code == 422
        assert not _request_judge(document).is_valid(request)


# (a request, whether the service takes it): what it asks for, named or given
WHAT_TO_MAKE: list[tuple[dict[str, Any], bool]] = [
    ({"count": 1}, False),
    ({"count": 1, "entity": "cart"}, True),
    ({"count": 1, "entity": "spaceship"}, False),
    ({"count": 1, "schema": {"predefined_schema": "user"}}, True),
    ({"count": 1, "schema": {"predefined_schema": "spaceship"}}, False),
    ({"count": 1, "schema": {"fields": []}}, False),
    ({"count": 1, "schema": None}, False),
    ({"count": 1, "schema": {"fields": [{"name": "note"}]}}, True),
    ({"count": 1, "entity": "note", "schema": {"fields": [{"name": "note"}]}}, True),
    ({"count": 2, "entity": "cart", "scenarios": [{"name": "a", "count": 2}]}, True),
    ({"count": 2, "entity": "cart", "scenarios": [{"name": " ", "count": 2}]}, False),
    ({"count": 2, "entity": "cart", "scenarios": [{"name": "a"}]}, False),
    ({"count": 2, "entity": "cart", "scenarios": [{"name": "a", "count": -2}]}, False),
    # Numbers past what the contract carries (found by schemathesis: 10^30 was valid by the
    # document, refused by the service): seed is the proto's int64.
    ({"count": 2, "entity": "cart", "scenarios": [{"name": "a", "count": 10**30}]}, False),
    ({"count": 1, "entity": "cart", "seed": 2**63 - 1}, True),
    ({"count": 1, "entity": "cart", "seed": -(2**63)}, True),
    ({"count": 1, "entity": "cart", "seed": 2**63}, False),
    ({"count": 1, "entity": "cart", "seed": 10**30}, False),
    ({"count": 1, "entity": "cart",
      "constraints": {"field_constraints": {"cart_id": {"max_length": 10**30}}}}, False),
    ({"count": 1, "entity": "cart",
      "constraints": {"field_constraints": {"cart_id": {"min_length": -1}}}}, False),
]  # fmt: skip


@pytest.mark.parametrize(("request_body", "taken"), WHAT_TO_MAKE)
def test_the_documented_request_schema_agrees_with_the_service_on_what_to_make(
    served: Served, request_body: dict[str, Any], taken: bool
) -> None:
    # schemathesis sent requests naming nothing, or an entity nobody registered: valid by the
    # document, refused by the service.
    document = served.http.get("/openapi.json").json()
    answer = served.http.post("/v1/generate", json=request_body)
    assert answer.status_code == (200 if taken else 422), answer.text
    assert _request_judge(document).is_valid(request_body) is taken


# (route, count, whether the service takes it): each route documents its own most
@pytest.mark.parametrize(
    ("route", "count", "taken"),
    [("/v1/generate", 1000, True), ("/v1/generate", 1001, False), ("/v1/jobs", 1001, True),
     ("/v1/jobs", 1_000_001, False)],
)  # fmt: skip
def test_each_route_documents_the_count_it_takes(
    served: Served, route: str, count: int, taken: bool
) -> None:
    # schemathesis sent 1001 records to /v1/generate, valid by the one schema both routes
    # shared (up to MAX_RECORDS), refused by the service (MAX_SYNC_RECORDS).
    document = served.http.get("/openapi.json").json()
    request = {"entity": "payment", "count": count, "seed": 1}
    answer = served.http.post(route, json=request)
    assert answer.status_code == ((200 if route == "/v1/generate" else 202) if taken else 422)
    assert _request_judge(document, route).is_valid(request) is taken
    if taken and route == "/v1/jobs":
        assert served.http.delete(f"/v1/jobs/{answer.json()['job_id']}").status_code == 200


def _request_judge(
    document: dict[str, Any], route: str = "/v1/generate"
) -> jsonschema.Draft202012Validator:
    """The request body's schema as ``route`` documents it."""
    body = document["paths"][route]["post"]["requestBody"]["content"]["application/json"]
    return jsonschema.Draft202012Validator({**body["schema"], "components": document["components"]})


@pytest.mark.parametrize("flag", [0, 1, "true", "yes", None])
def test_a_flag_is_true_or_false_as_documented_and_as_proto3_json_has_it(
    served: Served, flag: Any
) -> None:
    # schemathesis: `"required": 0` was taken (pydantic's lax mode reads 0/1, "yes", "on"...)
    # where the document says boolean; the gRPC shim's proto3 JSON takes only true and false.
    fields = [{"name": "note", "type": "STRING", "required": flag}]
    request = {"schema": {"fields": fields}, "count": 1, "use_cache": flag}
    answer = served.http.post("/v1/generate", json=request)
    assert answer.status_code == 422, answer.text
    named = {d["field"] for d in answer.json()["details"]}
    assert {"use_cache", "schema.fields[0].required"} <= named, named


def test_a_json_chunk_is_the_array_of_records_its_documentation_says(served: Served) -> None:
    # schemathesis: the document said every chunk was a string, a JSON one included.
    document = served.http.get("/openapi.json").json()
    submitted = served.http.post("/v1/jobs", json={"entity": "review", "count": 3, "seed": 2})
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()["job_id"]
    finished(served, job)
    chunk = served.http.get(f"/v1/jobs/{job}/chunks/0")
    assert chunk.status_code == 200 and len(chunk.json()) == 3
    assert not _against_document(document, "/v1/jobs/{job_id}/chunks/{index}", "get", chunk)


# What S3 calls that left the mock meet: no S3 in reach, or S3 refusing a made-up key. moto's
# empty S3 answers NoSuchBucket.
LEFT_THE_MOCK = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
}
S3_OUTSIDE = {
    "TDA_CHUNK_STORE": "s3://tda-team-bucket/jobs",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_MAX_ATTEMPTS": "1",  # S3 is unreachable here: one try, not botocore's five
}


def test_a_local_server_with_its_chunks_in_s3_reaches_s3_not_its_own_mock(
    tmp_path: Path,
) -> None:
    # The local workflow runtime mocks AWS in its process: S3 calls were answered by moto's
    # empty S3 (NoSuchBucket), so s3:// chunks could not work locally. They now leave the
    # mock, signed with the environment's own credentials; S3 is out of reach on this machine
    # (EndpointConnectionError), or refuses the made-up key: either proves the call left.
    keys = {"AWS_ACCESS_KEY_ID": "AKIATDATEST", "AWS_SECRET_ACCESS_KEY": "secret"}
    server = Served(tmp_path, env={**S3_OUTSIDE, **keys})
    try:
        answer = server.http.post("/v1/jobs", json={"entity": "cart", "count": 10, "seed": 1})
        assert answer.status_code == 503, answer.text
        said = re.search(r"\((\w+)\)", answer.json()["error"])
        # Unreachable here; refused by S3 itself where it is reachable (the key is no key).
        assert said and said.group(1) in LEFT_THE_MOCK, answer.text
        # A 503 says "not now": a submit told to wait tries again after its Retry-After.
        waited = tda(server, "submit", "cart", "--count", "10", "--retry-busy", "6")
        assert waited.returncode == 1 and "trying again in 5 s" in waited.stderr, waited.stderr
        assert "still busy after 6 s" in waited.stderr
        # A stream above the synchronous limit is a job: gRPC's "not now" is UNAVAILABLE.
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = pb_grpc.TestDataServiceStub(channel)
            big = Parse(json.dumps({"entity": "cart", "count": 20_000}), pb.GenerateRequest())
            with pytest.raises(grpc.RpcError) as refused:
                list(stub.GenerateDataStream(big, timeout=60))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value.details()
        assert "the job store cannot be read now" in (refused.value.details() or "")
        # Step Functions is still the local runtime's: a model-path request runs through it.
        llm = server.http.post("/v1/generate", json={"entity": "cart", "count": 2, "seed": 1})
        assert llm.status_code == 200, llm.text
    finally:
        assert server.stop() == 0


def test_a_local_server_with_s3_stores_and_no_credentials_says_so_at_once(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(S3_OUTSIDE, TDA_HOME=str(tmp_path), AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    env["AWS_CONFIG_FILE"] = "/nonexistent"
    done = subprocess.run(
        [sys.executable, "-m", "tda_local.cli", "serve", "--grpc-port", "0", "--http-port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr[-1000:]
    assert done.stderr.strip().endswith(
        "tda serve: TDA_CHUNK_STORE is on s3://, and no AWS credentials were found "
        "(AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws): the stores' S3 calls go to S3 itself"
    ), done.stderr[-1000:]
