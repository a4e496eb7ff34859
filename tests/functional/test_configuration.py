"""A bad setting in the environment is named before any work starts, every bad one at once: the
CLI exits 2 with one line per setting, a server does not start, a Lambda function's init fails
with the same sentence. Before, some were a traceback at import (``MAX_SYNC_RECORDS=abc``), some
a request answered 500 when first used (``LLM_DEADLINE_SECONDS=abc``), and some were taken
silently (``RAG_SEARCH_MODE=bogus`` searched as hybrid, ``MAX_SYNC_RECORDS=-5``).

Run as an operator runs them: subprocesses with the environment set.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tda.app import environment
from tda.app.environment import KNOBS, check_environment
from tda.domain.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
TDA = [sys.executable, "-m", "tda_local.cli"]


def run(args: list[str], tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TDA_HOME": str(tmp_path / "home"), **settings}
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def named_problems(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    first, *problems = stderr.strip().splitlines()
    assert first == "tda: error: a setting in the environment cannot be used:", stderr
    return [line.strip() for line in problems]


def test_the_cli_names_every_bad_setting_at_once_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "carts.json"
    done = run(
        [*TDA, "generate", "cart", "--count", "5", "-o", str(out)],
        tmp_path,
        MAX_SYNC_RECORDS="abc",
        COHERENCE_THRESHOLD="2",
        RAG_SEARCH_MODE="bogus",
        LLM_DEADLINE_SECONDS="nan",
    )
    assert done.returncode == 2
    assert named_problems(done.stderr) == [
        "MAX_SYNC_RECORDS='abc': expected a whole number ≥ 1",
        "COHERENCE_THRESHOLD='2': expected a number from 0 to 1",
        "LLM_DEADLINE_SECONDS='nan': expected a number > 0",
        "RAG_SEARCH_MODE='bogus': expected one of vector, keyword, hybrid",
    ]
    assert done.stdout == "" and not out.exists()


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("MAX_SYNC_RECORDS", "-5", "MAX_SYNC_RECORDS='-5': expected a whole number ≥ 1"),
        ("MAX_RECORDS", "1e6", "MAX_RECORDS='1e6': expected a whole number ≥ 1"),
        ("LLM_RESPONSE_FORMAT", "xml", "LLM_RESPONSE_FORMAT='xml': expected one of"),
        ("HEAVY_QUEUE_SECONDS", "0", "HEAVY_QUEUE_SECONDS='0': expected a number > 0"),
        ("JOB_RETENTION_DAYS", "-1", "JOB_RETENTION_DAYS='-1': expected a number ≥ 0"),
        ("HTTP_READ_TIMEOUT_SECONDS", "inf", "HTTP_READ_TIMEOUT_SECONDS='inf': expected a num"),
        ("VECTOR_STORE_TIMEOUT_SECONDS", "5s", "VECTOR_STORE_TIMEOUT_SECONDS='5s': expected a"),
        ("LLM_MAX_CONCURRENCY", "0", "LLM_MAX_CONCURRENCY='0': expected a whole number ≥ 1"),
        # gRPC takes its message limit as a C int: before, a server that did not start.
        (
            "MAX_REQUEST_BYTES",
            "10000000000",
            "MAX_REQUEST_BYTES='10000000000': expected a whole number from 1 to 2,147,483,647",
        ),
        # Before: a stream's job "could not start: internal error" (a count past 64 bits).
        (
            "JOB_CHUNK_RECORDS",
            "99999999999999999999",
            "JOB_CHUNK_RECORDS='99999999999999999999': expected a whole number from 1 to 1,000,000",
        ),
        # gRPC's keepalive takes it in whole milliseconds, at most 2**31 - 1: before, 1e9 was
        # a server that did not start (an OverflowError traceback), 0.0001 pings of 0 ms.
        (
            "STREAM_STALL_SECONDS",
            "1e9",
            "STREAM_STALL_SECONDS='1e9': expected a number from 0.001 to 1,728,000",
        ),
        ("STREAM_STALL_SECONDS", "0.0001", "STREAM_STALL_SECONDS='0.0001': expected a number from"),
        # Before: 135,000 users over gRPC took 4.3 s, then "Sent message larger than max".
        ("MAX_RESPONSE_BYTES", "200000000", "MAX_RESPONSE_BYTES='200000000': expected a whole"),
        # URLs that cannot name anything. Before: REDIS_URL and TDA_CACHE_STORE were a
        # traceback (an HTTP 500) at every model request; the others a fallback at every
        # request, its reason a client library's error.
        ("REDIS_URL", "localhost:6379", "REDIS_URL='localhost:6379': expected a URL: redis://…"),
        ("TDA_CACHE_STORE", "gs://b/c", "TDA_CACHE_STORE='gs://b/c': expected a folder or a"),
        ("TDA_CHUNK_STORE", "s3://", "TDA_CHUNK_STORE='s3://': expected a folder or a URL:"),
        ("VECTOR_STORE_URL", "htp://x/y", "VECTOR_STORE_URL='htp://x/y': expected a folder"),
        ("VECTOR_STORE_URL", "weaviate://h:99999", "VECTOR_STORE_URL='weaviate://h:99999'"),
        ("VECTOR_STORE_URL", "weaviate://h?grpc=x", "VECTOR_STORE_URL='weaviate://h?grpc=x'"),
        ("LLM_BASE_URL", "127.0.0.1:8400/v1", "LLM_BASE_URL='127.0.0.1:8400/v1': expected a URL"),
        ("ANTHROPIC_BASE_URL", "https://", "ANTHROPIC_BASE_URL='https://': expected a URL"),
    ],
)
def test_each_command_refuses_a_bad_setting_before_it_parses_anything(
    tmp_path: Path, setting: str, value: str, problem: str
) -> None:
    for command in (["generate", "user", "--count", "1"], ["jobs", "list"], ["--help"]):
        done = run([*TDA, *command], tmp_path, **{setting: value})
        assert done.returncode == 2, (command, done.stderr)
        [named] = named_problems(done.stderr)
        assert named.startswith(problem), named


def test_a_value_past_the_screen_is_quoted_cut(tmp_path: Path) -> None:
    done = run([*TDA, "schemas"], tmp_path, DEFAULT_BATCH_SIZE="x" * 5000)
    [named] = named_problems(done.stderr)
    assert "(5,000 characters)" in named and len(named) < 150


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_server_with_a_bad_setting_does_not_start(tmp_path: Path) -> None:
    grpc_port, http_port = free_port(), free_port()
    done = run(
        [*TDA, "serve", "--grpc-port", str(grpc_port), "--http-port", str(http_port)],
        tmp_path,
        LLM_CALL_TIMEOUT_SECONDS="-1",
    )
    assert done.returncode == 2
    assert named_problems(done.stderr) == ["LLM_CALL_TIMEOUT_SECONDS='-1': expected a number > 0"]
    for port in (grpc_port, http_port):  # nothing was listening: both are still free to take
        with socket.socket() as again:
            again.bind(("127.0.0.1", port))


@pytest.mark.parametrize("function", ["router", "api"])
def test_a_lambda_function_fails_its_init_naming_the_setting(tmp_path: Path, function: str) -> None:
    importing = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import app; print('imported')"
    )
    done = run(
        [sys.executable, "-c", importing, str(ROOT / "layers"), str(ROOT / "functions" / function)],
        tmp_path,
        MAX_REQUEST_BYTES="lots",
    )
    assert done.returncode == 1 and "imported" not in done.stdout
    # Lambda's init error is the exception's class and message, as the last line shows them.
    assert done.stderr.strip().splitlines()[-1] == (
        "tda.domain.errors.ConfigurationError: MAX_REQUEST_BYTES='lots': "
        "expected a whole number from 1 to 2,147,483,647"
    )


def test_every_default_is_a_value_its_own_check_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KNOBS:
        monkeypatch.delenv(name, raising=False)
    check_environment()
    for name, knob in KNOBS.items():
        if knob.default is not None:
            monkeypatch.setenv(name, str(knob.default))
    check_environment()


def test_unset_or_blank_is_the_default_and_a_clamped_setting_is_held_in_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_SYNC_RECORDS", "  ")
    assert environment.read_int("MAX_SYNC_RECORDS") == 1000
    monkeypatch.setenv("MAX_SYNC_RECORDS", " 250 ")
    assert environment.read_int("MAX_SYNC_RECORDS") == 250
    monkeypatch.setenv("VECTOR_STORE_TIMEOUT_SECONDS", "9999")
    assert environment.read_float("VECTOR_STORE_TIMEOUT_SECONDS") == 600
    monkeypatch.setenv("VECTOR_STORE_TIMEOUT_SECONDS", "0")
    assert environment.read_float("VECTOR_STORE_TIMEOUT_SECONDS") == 0.1
    monkeypatch.setenv("VECTOR_STORE_TIMEOUT_SECONDS", "-inf")
    with pytest.raises(ConfigurationError, match=r"held within 0\.1 to 600"):
        environment.read_float("VECTOR_STORE_TIMEOUT_SECONDS")


def test_the_readme_lists_every_setting_with_its_default_and_range() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    for name, knob in KNOBS.items():
        row = next((line for line in table.splitlines() if line.startswith(f"| `{name}`")), "")
        assert row, f"{name} is not in the README's configuration table"
        assert knob.expected in row, (name, knob.expected, row)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("VECTOR_STORE_URL", "/srv/tda/vectors"),
        ("VECTOR_STORE_URL", "file:///srv/tda/vectors"),
        ("VECTOR_STORE_URL", "s3://tda-jobs/vectors"),
        ("VECTOR_STORE_URL", "weaviate://vec.internal:8080?grpc=50051"),
        ("VECTOR_STORE_URL", "weaviates://w.example.com"),
        ("TDA_CHUNK_STORE", "file://~/.tda/jobs"),
        ("TDA_CACHE_STORE", "s3://tda-jobs/cache"),
        ("REDIS_URL", "redis://localhost:6379/0"),
        ("REDIS_URL", "unix:///run/redis.sock"),
        ("LLM_BASE_URL", "http://127.0.0.1:8400/v1"),
        ("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
    ],
)
def test_every_documented_form_of_a_place_is_accepted(
    monkeypatch: pytest.MonkeyPatch, setting: str, value: str
) -> None:
    monkeypatch.setenv(setting, value)
    check_environment()
    assert environment.read(setting) == value


def test_max_records_caps_a_synchronous_request_too(tmp_path: Path) -> None:
    # Before: with MAX_RECORDS=100 under the default MAX_SYNC_RECORDS (1000), the API answered
    # 500 carts in one response: the operator's cap held for jobs only.
    asking = (
        "import json; from tda_local import lambdas; from tda_local.apigw import http_event, "
        "json_body; r = lambdas.invoke('api', http_event('POST', '/v1/generate', "
        "{'entity': 'cart', 'count': 500})); print(r['statusCode'], json.dumps(json_body(r)))"
    )
    done = run([sys.executable, "-c", asking], tmp_path, MAX_RECORDS="100")
    status, _, body = done.stdout.partition(" ")
    assert status == "422", done.stdout[:300] + done.stderr[-2000:]
    detail = json.loads(body)["details"][0]
    assert detail["field"] == "count" and "above the limit of 100" in detail["message"]
