"""The chunk stores, local folder and S3 (moto's): a chunk written from its pieces, read back
whole or by byte range; a write that fails part-way leaves nothing behind."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tda.adapters.chunk_stores import FileChunkStore, S3ChunkStore
from tda.ports.chunk_store import (
    ChunkStore,
    ChunkStoreRefusedError,
    ChunkStoreUnavailableError,
    ChunkWriteError,
    InMemoryChunkStore,
    StorageFullError,
)

PIECES: list[bytes | memoryview] = [b"[", memoryview(b'x{"a": 1}y')[1:-1], b",", b'{"b": 22}', b"]"]
WHOLE = b'[{"a": 1},{"b": 22}]'


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChunkStore]:
    if request.param == "file":
        yield FileChunkStore(tmp_path / "jobs")
        return
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="chunks")
        yield S3ChunkStore("chunks", "jobs/", client)


def test_pieces_make_the_whole_chunk_and_any_range_reads_back(store: ChunkStore) -> None:
    store.put_pieces("job-1/chunk-0.json", iter(PIECES))
    assert store.get("job-1/chunk-0.json") == WHOLE
    for offset in range(len(WHOLE)):
        for length in range(1, len(WHOLE) - offset + 1):
            assert (
                store.get_range("job-1/chunk-0.json", offset, length)
                == (WHOLE[offset : offset + length])
            )
    with pytest.raises(KeyError):
        store.get_range("job-1/chunk-9.json", 0, 4)


def test_a_write_failing_part_way_leaves_the_old_chunk_and_no_litter(
    store: ChunkStore, tmp_path: Path
) -> None:
    store.put("job-2/chunk-0.json", b"[]")

    def failing() -> Iterator[bytes]:
        yield b"[1,"
        raise ChunkWriteError("the renderer failed")

    with pytest.raises(ChunkWriteError):
        store.put_pieces("job-2/chunk-0.json", failing())
    assert store.get("job-2/chunk-0.json") == b"[]"  # a reader never sees half a chunk
    if isinstance(store, FileChunkStore):
        assert [p.name for p in (tmp_path / "jobs" / "job-2").iterdir()] == ["chunk-0.json"]


def test_a_refused_write_is_told_from_one_worth_retrying(tmp_path: Path) -> None:
    """Access denied or no such bucket is final (the workflow does not retry it); S3's
    throttling is worth another try (a full disk is not: test_a_folder_keeps_its_reserve…)."""
    from botocore.stub import Stubber

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        with pytest.raises(ChunkStoreRefusedError, match="NoSuchBucket"):
            S3ChunkStore("no-such-bucket", "jobs", client).put("a", b"x")
        stubbed = boto3.client("s3", region_name="us-east-1")
        with Stubber(stubbed) as stub:
            stub.add_client_error("put_object", "AccessDenied", http_status_code=403)
            stub.add_client_error("put_object", "SlowDown", http_status_code=503)
            store = S3ChunkStore("chunks", "jobs", stubbed)
            with pytest.raises(ChunkStoreRefusedError, match="AccessDenied"):
                store.put("a", b"x")
            with pytest.raises(ChunkWriteError, match="SlowDown"):
                store.put("a", b"x")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ChunkStoreRefusedError):
            FileChunkStore(locked).put("job/a", b"x")


def test_a_read_that_fails_is_told_from_a_key_that_is_not_there() -> None:
    """A HeadObject or GetObject that S3 throttles or refuses is no answer: it raises (the API
    says 503), where a 404 is one (not there). A failed look had read as "not there", and a
    job's chunk writer took its job for removed."""
    from botocore.stub import Stubber

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="chunks")
        assert S3ChunkStore("chunks", "jobs", client).exists("nothing") is False
        with pytest.raises(KeyError):
            S3ChunkStore("chunks", "jobs", client).get("nothing")
        missing = S3ChunkStore("no-such-bucket", "jobs", client)
        with pytest.raises(ChunkStoreUnavailableError, match="NoSuchBucket"):
            missing.keys("callers/")
        stubbed = boto3.client("s3", region_name="us-east-1")
        with Stubber(stubbed) as stub:
            stub.add_client_error("head_object", "SlowDown", http_status_code=503)
            stub.add_client_error("head_object", "403", http_status_code=403)
            stub.add_client_error("get_object", "SlowDown", http_status_code=503)
            store = S3ChunkStore("chunks", "jobs", stubbed)
            for look in (store.exists, store.exists, store.get):
                with pytest.raises(ChunkStoreUnavailableError) as caught:
                    look("job-1/planned.json")
                assert caught.value.code in ("SlowDown", "403")


def test_keys_lists_what_lies_under_a_prefix(store: ChunkStore) -> None:
    for key in ("callers/a/job-1", "callers/a/job-2", "callers/b/job-3", "job-1/chunk.json"):
        store.put(key, b"")
    assert store.keys("callers/a/") == ["callers/a/job-1", "callers/a/job-2"]
    assert store.keys("callers/a/", limit=1) == ["callers/a/job-1"]
    assert store.keys("callers/none/") == []


def test_a_folder_keeps_its_reserve_of_free_disk(tmp_path: Path) -> None:
    """A write that would take the disk below its reserve stops there and leaves nothing, and
    is final (StorageFullError, a refusal); a small record (a manifest, a mark) still lands,
    so a job can say why it failed."""
    root = tmp_path / "jobs"
    room = 8 << 20
    store = FileChunkStore(root, min_free_bytes=shutil.disk_usage(tmp_path).free - room)
    drawn = 0

    def megabytes() -> Iterator[bytes]:
        nonlocal drawn
        for _ in range(200):
            drawn += 1
            yield b"x" * (1 << 20)

    with pytest.raises(StorageFullError, match="MIN_FREE_DISK_BYTES") as full:
        store.put_pieces("job-1/chunk-00000.ndjson", megabytes())
    assert isinstance(full.value, ChunkStoreRefusedError)  # the workflow does not retry it
    assert 0 < drawn < 20  # it stopped at the reserve, not at the end of the chunk
    assert str(root) not in str(full.value)
    assert not (root / "job-1").exists() or list((root / "job-1").iterdir()) == []
    store.put("job-1/failure.json", b"{}")
    below = FileChunkStore(root, min_free_bytes=shutil.disk_usage(tmp_path).total)
    assert (below.room() or 0) < 0
    with pytest.raises(StorageFullError):
        below.put_pieces("job-1/chunk-00001.ndjson", [b"x" * (1 << 20)])
    below.put("job-1/manifest.json", b"{}")
    assert sorted(p.name for p in (root / "job-1").iterdir()) == ["failure.json", "manifest.json"]


def test_a_folder_keeps_some_of_its_disk_free_unless_told_otherwise(tmp_path: Path) -> None:
    disk = shutil.disk_usage(tmp_path)
    room = FileChunkStore(tmp_path / "not-made-yet").room()
    assert room is not None and room < disk.free  # a reserve, below the folder's own disk
    assert disk.free - room <= (1 << 30) + (64 << 20)  # 1 GiB at most (and what others wrote)
    assert InMemoryChunkStore().room() is None  # a store with no disk has no such limit


def test_s3_stores_share_one_client_per_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each use of an S3 chunk store made a boto3 client (≈5 ms of CPU): a chunk's write, a
    # download's presigned URL. One is kept per AWS environment; another region, another client.
    from tda.adapters.aws_clients import forget_clients
    from tda.adapters.chunk_stores import store_for

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    forget_clients()
    first, again = store_for("s3://chunks/jobs"), store_for("s3://chunks/other")
    assert isinstance(first, S3ChunkStore) and isinstance(again, S3ChunkStore)
    assert first.client is again.client
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    elsewhere = store_for("s3://chunks/jobs")
    assert isinstance(elsewhere, S3ChunkStore) and elsewhere.client is not first.client
    assert elsewhere.client.meta.region_name == "eu-west-1"
    forget_clients()


@pytest.mark.parametrize("key", ["../outside.json", "job/../../outside.json", "/etc/outside"])
def test_a_folder_store_key_never_leads_out_of_its_folder(tmp_path: Path, key: str) -> None:
    store = FileChunkStore(tmp_path / "jobs")
    store.put("job/chunk-0.json", b"[]")  # the folder is made, and its resolution kept
    with pytest.raises(KeyError):
        store.put(key, b"[]")
    with pytest.raises(KeyError):
        store.get(key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs"]
