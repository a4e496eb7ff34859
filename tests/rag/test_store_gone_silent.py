"""An ``s3://`` store that answered, then went silent (its endpoint keeps every connection and
answers nothing): requests fall back to traditional generation within two request timeouts,
the store is then taken as down without being tried, and it is used again once it answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import boto3
import pytest

import tda.adapters.store_waits as store_waits

from ..silent_server import GoingSilentProxy
from .conftest import s3_environment, uploaded_seeded_store
from .test_rag_path import served, served_at_once


@pytest.fixture
def going_silent(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoingSilentProxy]:
    """The seeded store on S3, reached through a proxy that can go silent."""
    endpoint = urlsplit(s3_endpoint)
    proxy = GoingSilentProxy((str(endpoint.hostname), int(endpoint.port or 80)))
    for name, value in s3_environment(proxy.url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VECTOR_STORE_TIMEOUT_SECONDS", "1")
    bucket = f"tda-silent-{time.monotonic_ns()}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    monkeypatch.setenv("VECTOR_STORE_URL", uploaded_seeded_store(bucket))
    yield proxy
    proxy.close()


def test_a_store_gone_silent_is_given_up_on_in_two_timeouts_then_taken_as_down(
    going_silent: GoingSilentProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: only a connection was waited for within a deadline. A store that went silent
    after it connected held each request for LanceDB's six tries of a listing (≈9 s at a 1 s
    timeout, ≈34 s at the default 5 s), every request again, and the error named a failed
    listing."""
    meta, _ = served(entity="user", count=8, learn_from_history=True)
    assert meta.generation_path == "rag"

    going_silent.go_silent()
    answers = served_at_once(3, entity="user", count=8, learn_from_history=True)
    assert len(answers) == 3, "no answer: a request waited on the store"
    for meta, records in answers:
        assert meta.generation_path == "traditional" and len(records) == 8
        assert "unreachable: no answer in 2 s" in meta.fallback_reason

    # What was given up on goes on in a thread of its own to LanceDB's last try (≈9 s here),
    # and those tries connect too: they are waited out before counting. Counted while they
    # went on, one of them once landed during the next request.
    deadline = time.monotonic() + 20
    while any(thread.name == "tda-lance-read" for thread in threading.enumerate()):
        assert time.monotonic() < deadline, "a read given up on never ended"
        time.sleep(0.2)
    tried = going_silent.accepted
    meta, records = served(entity="user", count=8, learn_from_history=True)
    assert meta.generation_path == "traditional" and len(records) == 8
    assert "tried again 30 s after" in meta.fallback_reason
    assert going_silent.accepted == tried, "a store taken as down was tried"

    monkeypatch.setattr(store_waits, "DOWN_SECONDS", 0.2)
    going_silent.speak()
    time.sleep(0.3)
    meta, records = served(entity="user", count=8, learn_from_history=True)
    assert meta.generation_path == "rag" and len(records) == 8
