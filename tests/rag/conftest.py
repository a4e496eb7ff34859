"""A LanceDB store seeded with the shipped corpus (once per test process), and fresh copies of
it for the tests that write (learning, adding)."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tda_local.cli import main

from ..conftest import session_folder
from ..llm.scripted import openai_model

__all__ = ["openai_model"]  # the hybrid path on a scripted model

_SEEDED: list[Path] = []


def seeded_folder() -> Path:
    if not _SEEDED:
        folder = Path(session_folder("tda-test-seeded-")) / "vectors"
        mp = pytest.MonkeyPatch()
        mp.setenv("VECTOR_STORE_URL", str(folder))
        try:
            assert main(["rag", "seed"]) == 0  # the public way: tda rag seed
        finally:
            mp.undo()
        _SEEDED.append(folder)
    return _SEEDED[0]


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A copy of the seeded store of this test's own (a request that asks to learn writes)."""
    folder = tmp_path / "vectors"
    shutil.copytree(seeded_folder(), folder)
    monkeypatch.setenv("VECTOR_STORE_URL", str(folder))
    yield folder


fresh_store = seeded


@pytest.fixture
def empty_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "empty-vectors"
    monkeypatch.setenv("VECTOR_STORE_URL", str(folder))
    yield folder


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_environment(endpoint: str) -> dict[str, str]:
    """LanceDB and boto3 pointed at an S3 server by the environment, as in a Lambda (with the
    endpoint AWS's)."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT": endpoint,
        "AWS_ALLOW_HTTP": "true",
    }


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new bucket on the S3 server, the environment pointed at it."""
    for name, value in s3_environment(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    bucket = f"tda-{time.monotonic_ns()}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    yield bucket


def uploaded_seeded_store(bucket: str) -> str:
    """The seeded store copied to ``s3://bucket/vectors`` (its URL)."""
    folder = seeded_folder()
    s3 = boto3.client("s3")
    for file in (f for f in folder.rglob("*") if f.is_file() and f.parent.name != "_locks"):
        s3.upload_file(str(file), bucket, f"vectors/{file.relative_to(folder)}")
    return f"s3://{bucket}/vectors"
