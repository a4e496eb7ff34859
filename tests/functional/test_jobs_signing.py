"""`tda jobs` against an API behind IAM: requests signed with SigV4 (botocore's signer, the
caller's credentials), the signature not sent on to where a chunk's redirect leads, and a clear
error without credentials. A local HTTP server stands in for API Gateway and S3 and records what
reaches it; ``TDA_API_REGION`` makes any host an API to sign for (an execute-api host is one
by its name)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tda_local.cli import main

SEEN: list[tuple[str, dict[str, str]]] = []


class FakeApi(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        SEEN.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        base = f"http://{self.headers['Host']}"  # where the client reached this server
        if self.path == "/v1/jobs/job-1":
            chunk = {"index": 0, "url": f"{base}/v1/jobs/job-1/chunks/0"}
            self._json({"job_id": "job-1", "status": "SUCCEEDED", "format": "NDJSON",
                        "chunks": [chunk]})  # fmt: skip
        elif self.path == "/v1/jobs/job-1/chunks/0":
            self.send_response(307)
            self.send_header("Location", f"{base}/bucket/chunk-00000.ndjson?X-Amz-Signature=s")
            self.end_headers()
        else:
            body = b'{"a": 1}\n'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def _json(self, answer: dict[str, Any]) -> None:
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def api() -> Iterator[str]:
    SEEN.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_requests_to_an_iam_api_are_signed_and_redirects_carry_no_signature(
    api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TDA_API_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    out = tmp_path / "carts.ndjson"
    assert main(["jobs", "fetch", "job-1", "-o", str(out), "--api", api]) == 0
    assert out.read_bytes() == b'{"a": 1}\n'
    by_path = dict(SEEN)
    status = by_path["/v1/jobs/job-1"]["authorization"]
    assert status.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert (
        "/eu-west-1/execute-api/aws4_request" in status
        and "x-amz-date" in by_path["/v1/jobs/job-1"]
    )
    assert "authorization" in by_path["/v1/jobs/job-1/chunks/0"]
    s3 = next(headers for path, headers in SEEN if path.startswith("/bucket/"))
    assert "authorization" not in s3  # a presigned URL carries its own signature


def test_no_credentials_is_a_clear_error(
    api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("TDA_API_REGION", "eu-west-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["jobs", "status", "job-1", "--api", api]) == 2
    assert "no AWS credentials were found" in capsys.readouterr().err
    assert SEEN == []  # nothing was sent unsigned


def test_a_local_api_is_not_signed(api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TDA_API_REGION", raising=False)
    assert main(["jobs", "status", "job-1", "--api", api]) == 0
    assert "authorization" not in SEEN[0][1]


def test_a_fetch_to_dash_writes_standard_output(
    api: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    # Before: `-o -` wrote a file named '-' in the current folder, and said nothing.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TDA_API_REGION", raising=False)
    assert main(["jobs", "fetch", "job-1", "-o", "-", "--api", api]) == 0
    assert capsysbinary.readouterr().out == b'{"a": 1}\n'
    assert list(tmp_path.iterdir()) == []
