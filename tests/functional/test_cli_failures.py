"""The CLI when things go wrong: no partial files, one ``tda: error:`` line, the seed always told.

Run as a user runs it (a subprocess of the installed module), since signals, stdout and exit
codes are the point.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

TDA = [sys.executable, "-m", "tda_local.cli"]


def tda(*args: str | bytes, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*TDA, *args], capture_output=True, timeout=300, **kwargs)  # type: ignore[call-overload]


def one_error_line(stderr: bytes) -> str:
    text = stderr.decode()
    assert "Traceback" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tda: error: "), text
    return lines[0]


def test_sigterm_while_writing_leaves_no_file_under_the_final_name(tmp_path: Path) -> None:
    out = tmp_path / "users.json"
    process = subprocess.Popen(
        [*TDA, "generate", "user", "--count", "1000000", "--seed", "1", "-o", str(out)],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not any(tmp_path.iterdir()) and time.monotonic() < deadline:  # writing has begun
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) != 0
    assert list(tmp_path.iterdir()) == [], "a partial or temporary file was left behind"


def test_a_finished_file_appears_whole_with_the_usual_permissions(tmp_path: Path) -> None:
    out = tmp_path / "carts.ndjson"
    done = tda("generate", "cart", "--count", "30", "--seed", "5", "-f", "ndjson", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["carts.ndjson"]
    assert len(out.read_bytes().splitlines()) == 30
    assert out.stat().st_mode & 0o644 == 0o644  # not mkstemp's private 0600
    assert b"seed 5" in done.stderr


def test_a_temporary_name_left_by_an_earlier_process_is_passed_over(tmp_path: Path) -> None:
    # The temporary is named for the writing process: one a killed run left under the same pid
    # (pids are reused) is neither written into nor removed, and the output still lands whole.
    from tda_local.cli import main

    out = tmp_path / "carts.json"
    stale = tmp_path / f".{os.getpid()}.0.carts.json"
    stale.write_bytes(b"someone else's")
    assert main(["generate", "cart", "-n", "2", "--seed", "3", "-o", str(out)]) == 0
    assert len(json.loads(out.read_bytes())) == 2
    assert stale.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [stale.name, "carts.json"]


def test_an_output_name_as_long_as_a_folder_takes_is_written(tmp_path: Path) -> None:
    # The temporary is named after the output; one already 255 bytes long (é: two bytes each)
    # still gets a temporary name the folder takes, and leaves none behind.
    from tda_local.cli import main

    out = tmp_path / ("é" * 125 + ".json")
    assert len(os.fsencode(out.name)) == 255
    assert main(["generate", "cart", "-n", "2", "--seed", "3", "-o", str(out)]) == 0
    assert len(json.loads(out.read_bytes())) == 2
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_a_missing_output_folder_is_bad_input_before_any_work(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "carts.json"
    done = tda("generate", "cart", "--count", "5", "-o", str(missing))
    assert done.returncode == 2
    assert "--output: folder" in one_error_line(done.stderr)


def test_a_non_utf8_override_is_bad_input_naming_the_option() -> None:
    done = tda("generate", "user", "--count", "2", "--override", b"default.first_name=\xff\xfe")
    assert done.returncode == 2
    assert "--override" in one_error_line(done.stderr)


def test_stdout_output_reports_its_seed_and_ends_with_a_newline() -> None:
    done = tda("generate", "cart", "--count", "3")
    assert done.returncode == 0
    assert done.stdout.endswith(b"]\n")
    assert len(json.loads(done.stdout)) == 3
    seed = int(done.stderr.decode().split("seed ")[1].split(",")[0])
    again = tda("generate", "cart", "--count", "3", "--seed", str(seed))
    assert again.stdout == done.stdout  # the reported seed replays the piped output


def test_a_full_disk_is_one_error_line_and_exit_1() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [*TDA, "generate", "user", "--count", "50000"], stdout=full, stderr=subprocess.PIPE
        )
    assert done.returncode == 1
    assert "No space left" in one_error_line(done.stderr)


def test_an_output_file_that_cannot_be_made_names_the_path(tmp_path: Path) -> None:
    # Its folder is there, but the file cannot be made or written: the one error line says
    # which file, in the user's own words (not the temporary name written beside it).
    too_long = tmp_path / ("a" * 300 + ".json")
    done = tda("generate", "cart", "--count", "2", "-o", str(too_long))
    assert done.returncode == 2
    assert "--output: the name is 305 bytes" in one_error_line(done.stderr)
    assert list(tmp_path.iterdir()) == []
    too_deep = tmp_path.joinpath(*["a"] * 3000) / "carts.json"  # past PATH_MAX
    done = tda("generate", "cart", "--count", "2", "-o", str(too_deep))
    assert done.returncode == 2
    assert "--output: cannot write there: File name too long" in one_error_line(done.stderr)
    if os.path.exists("/dev/full"):
        done = tda("generate", "user", "--count", "50000", "-o", "/dev/full")
        assert done.returncode == 1
        assert one_error_line(done.stderr) == "tda: error: /dev/full: No space left on device"
    if os.path.isdir("/proc/self"):  # a folder no file can be made in, even by root
        # Refused before any work (it was exit 1 once the temporary file could not be made).
        done = tda("generate", "cart", "--count", "2", "-o", "/proc/carts.json")
        assert done.returncode == 2
        line = one_error_line(done.stderr)
        assert (
            line
            == "tda: error: --output: no file can be made in /proc, as /proc/carts.json would be"
        )


def test_an_unknown_domain_is_bad_input_and_version_is_printed() -> None:
    done = tda("schemas", "--domain", "ecomerce")
    assert done.returncode == 2
    assert "known: ecommerce" in one_error_line(done.stderr)
    version = tda("--version")
    assert version.returncode == 0 and version.stdout.decode().startswith("tda 0.")


def test_jobs_take_api_after_the_action_and_refuse_a_missing_folder(tmp_path: Path) -> None:
    unused = "http://127.0.0.1:9"  # discard port: nothing listens
    done = tda("jobs", "status", "job-1", "--api", unused)
    assert done.returncode == 1
    assert f"cannot reach {unused}" in one_error_line(done.stderr)
    fetched = tda(
        "jobs", "fetch", "job-1", "-o", str(tmp_path / "no" / "x.ndjson"), "--api", unused
    )
    assert fetched.returncode == 2
    assert "--output: folder" in one_error_line(fetched.stderr)
    bad = tda("jobs", "submit", "cart", "--count", "10", "--scenario", "a3", "--api", unused)
    assert bad.returncode == 2  # parsed before anything is sent
    assert "--scenario: expected NAME=COUNT" in one_error_line(bad.stderr)
    # isdigit() took '²', which int() refused, and lstrip('-') '--3': tracebacks.
    for count in ("²", "٣", "--3"):
        bad = tda("generate", "cart", "--count", "3", "--scenario", f"a={count}")
        assert bad.returncode == 2, bad.stderr
        assert f"--scenario: expected NAME=COUNT, got 'a={count}'" in one_error_line(bad.stderr)


@pytest.mark.parametrize(
    ("api", "said"),
    [
        ("notaurl", "--api: 'notaurl' is not an http:// or https:// URL"),
        ("ftp://x", "--api: 'ftp://x' is not an http:// or https:// URL"),
        ("file:///etc", "--api: 'file:///etc' is not an http:// or https:// URL"),
        ("http://a b", "--api: 'http://a b' has a space or control character"),
        ("http://[::1", "--api: 'http://[::1' is not a URL (Invalid IPv6 URL)"),
        ("http://x:99999", "--api: 'http://x:99999' is not a URL (Port out of range 0-65535)"),
    ],
)
def test_jobs_refuse_an_api_that_is_no_url_before_sending(api: str, said: str) -> None:
    # Before: a traceback from urllib (ValueError, http.client.InvalidURL) for most of these.
    done = tda("jobs", "status", "job-1", "--api", api)
    assert done.returncode == 2
    assert one_error_line(done.stderr) == f"tda: error: {said}"
    from_environment = tda("jobs", "status", "job-1", env={**os.environ, "TDA_API": api})
    assert from_environment.returncode == 2
    said_there = said.replace("--api", "TDA_API")
    assert one_error_line(from_environment.stderr) == f"tda: error: {said_there}"


@pytest.mark.parametrize("action", ["status", "cancel", "rm", "fetch"])
@pytest.mark.parametrize("job_id", ["a b", "x?purge=true", "../schemas", "", "j" * 81])
def test_jobs_refuse_a_job_id_no_job_has_before_sending(action: str, job_id: str) -> None:
    # Before: 'a b' was a traceback (http.client.InvalidURL), and 'x?purge=true' made
    # `tda jobs cancel` a purge.
    output = ["-o", os.devnull] if action == "fetch" else []
    done = tda("jobs", action, job_id, *output, "--api", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith("tda: error: job_id: letters, digits")


def test_jobs_fetch_follows_no_chunk_link_but_http(tmp_path: Path) -> None:
    # A server (or anything answering at --api) that links a chunk to file:// would have had
    # this machine's file read into the output.
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the output")
    status = {
        "status": "SUCCEEDED",
        "format": "NDJSON",
        "chunks": [{"index": 0, "url": secret.as_uri()}],
    }

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(status).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        out = tmp_path / "out.ndjson"
        api = f"http://127.0.0.1:{server.server_address[1]}"
        done = tda("jobs", "fetch", "job-1", "-o", str(out), "--api", api)
        server.shutdown()
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert "the API's job status cannot be used: chunk 0's url:" in line, line
    assert not out.exists()


MOST_WORKERS = 4 * (os.cpu_count() or 1)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        # Before: gRPC took 70000 as 4464 (70000 mod 65536) and served there.
        (["--grpc-port", "70000"], "argument --grpc-port: must be a port from 0 to 65535"),
        (["--http-port", "-1"], "argument --http-port: must be a port from 0 to 65535"),
        (["--http-port", "80a"], "argument --http-port: must be a port from 0 to 65535"),
        # isdigit() took them: '²' was argparse's "invalid _port value", '٣' port 3.
        (["--grpc-port", "²"], "argument --grpc-port: must be a port from 0 to 65535"),
        (["--http-port", "٣"], "argument --http-port: must be a port from 0 to 65535"),
        (["--workers", "²"], "argument --workers: must be 'auto' or a whole number from 1 to"),
        # Before: 100000 processes were started, one after another, until the machine gave out.
        (
            ["--workers", "100000"],
            f"a whole number from 1 to {MOST_WORKERS} (4 a core here; got '100000')",
        ),
    ],
)
def test_serve_refuses_ports_and_workers_out_of_range_before_it_starts(
    args: list[str], said: str
) -> None:
    done = tda("serve", *args)
    assert done.returncode == 2
    assert said in done.stderr.decode().strip().splitlines()[-1]


def test_serve_names_a_host_it_cannot_serve_on() -> None:
    unknown = tda("serve", "--host", "nowhere.invalid")  # RFC 6761: never resolves
    assert unknown.returncode == 2
    line = unknown.stderr.decode().strip()
    assert line.startswith("tda serve: --host nowhere.invalid: no such address ("), line
    # Before: "… (Cannot assign requested address): another server has it".
    foreign = tda("serve", "--host", "192.0.2.1")  # TEST-NET-1: no interface here
    assert foreign.returncode == 2
    line = foreign.stderr.decode().strip()
    assert line == "tda serve: --host 192.0.2.1: no interface of this machine has that address"
    any_port = tda("serve", "--host", "192.0.2.1", "--grpc-port", "0", "--http-port", "0")
    assert any_port.returncode == 2  # before: gRPC's RuntimeError "Failed to bind", a traceback
    assert any_port.stderr.decode().strip() == line


def test_serve_refuses_store_folders_it_cannot_make_before_it_starts(tmp_path: Path) -> None:
    # Before: it served, and a job was then refused as if the disk were full; the memory and
    # the model answers' cache failed at their first use.
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    home = a_file / "home"
    stores = ("TDA_CHUNK_STORE", "TDA_CACHE_STORE", "VECTOR_STORE_URL")  # the suite sets some
    environment = {k: v for k, v in os.environ.items() if k not in stores}
    done = tda(
        "serve", "--grpc-port", "0", "--http-port", "0", env={**environment, "TDA_HOME": str(home)}
    )
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert lines[0] == "tda serve: a store's folder cannot be made or written:"
    assert f"  TDA_HOME: {home}/jobs (the chunk store): Not a directory" in lines
    assert f"  TDA_HOME: {home}/cache (the model answers' cache): Not a directory" in lines
    assert f"  TDA_HOME: {home}/vectors (the memory): Not a directory" in lines
    elsewhere = {**environment, "TDA_HOME": str(tmp_path / "home"), "VECTOR_STORE_URL": str(a_file)}
    done = tda("serve", "--grpc-port", "0", "--http-port", "0", env=elsewhere)
    assert done.returncode == 2
    assert f"  VECTOR_STORE_URL: {a_file} (the memory): not a folder" in done.stderr.decode()


@pytest.mark.parametrize("output", ["stdout", "file"])
def test_generate_leaves_without_teardown_yet_every_byte_is_out(
    tmp_path: Path, output: str
) -> None:
    # After generate the process exits at once (os._exit: no interpreter teardown), so what is
    # buffered must have been flushed first: stdout through a pipe is block-buffered.
    out = tmp_path / "users.ndjson"
    to_file = ["-o", str(out)] if output == "file" else []
    done = tda("generate", "user", "-n", "3001", "-f", "ndjson", "--seed", "4", *to_file)
    assert done.returncode == 0, done.stderr
    written = out.read_bytes() if output == "file" else done.stdout
    records = [json.loads(line) for line in written.decode().splitlines()]
    assert len(records) == 3001 and records[-1]["_index"] == 3000
    assert done.stderr.decode().startswith("wrote 3001 user records")
    refused = tda("generate", "user", "-n", "0")  # and an error still exits 2, its line out
    assert refused.returncode == 2 and "count" in one_error_line(refused.stderr)


@pytest.mark.parametrize("days", ["nan", "-1", "inf", "²"])
def test_jobs_gc_refuses_an_age_that_is_not_one(tmp_path: Path, days: str) -> None:
    # Before: NaN made every comparison with the cutoff false, so every job went; -1 took every
    # job as a day older than it is.
    job = tmp_path / "jobs" / "job-kept"
    job.mkdir(parents=True)
    (job / "chunk-0.ndjson").write_text("{}\n")
    env = {k: v for k, v in os.environ.items() if k != "TDA_CHUNK_STORE"}
    done = tda("jobs", "gc", "--days", days, env={**env, "TDA_HOME": str(tmp_path)})
    assert done.returncode == 2
    assert f"argument --days: {days!r} is not a number of days ≥ 0" in done.stderr.decode()
    assert job.is_dir()
