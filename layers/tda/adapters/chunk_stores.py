"""The chunk store port (``tda.ports.chunk_store``) on a local folder or on S3 (``TDA_CHUNK_STORE``).

``file:///path`` (default ``$TDA_HOME/jobs``) or ``s3://bucket/prefix``. Every write replaces
the whole object (a temp file renamed into place locally, one PutObject in S3), so a retried
chunk overwrites itself and a reader never sees half a chunk.

A chunk is written from its pieces and read back by byte range, so neither side holds a whole
chunk locally (in S3 a PutObject needs the whole body: a Lambda holds one chunk at a time).

A local folder keeps some of its disk free (``MIN_FREE_DISK_BYTES``; by default 5% of the disk,
at most 1 GiB): a flood of million-record jobs fails at that line, not at a full disk the rest of
the machine needs too.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tda.adapters import aws_clients
from tda.adapters.disk_reserve import DiskReserve
from tda.ports.chunk_store import (
    FREE_SOME_ROOM,
    ChunkStore,
    ChunkStoreRefusedError,
    ChunkStoreUnavailableError,
    ChunkWriteError,
    Piece,
    Readable,
    StorageFullError,
)

# Manifests, marks and part indexes land even past the reserve (they are small, and few), so a
# job that met it can still record why it failed.
SMALL_WRITE_BYTES = 64 << 10


class FileChunkStore:
    def __init__(self, root: Path, min_free_bytes: int | None = None) -> None:
        """``min_free_bytes``: what the disk keeps free (None: the default, see DiskReserve)."""
        self.root = root
        self.reserve = DiskReserve(root, min_free_bytes)

    def room(self) -> int:
        return self.reserve.room()

    def _full(self, key: str) -> StorageFullError:
        return StorageFullError(
            f"{key}: {self.reserve.reached('the chunk store')}: {FREE_SOME_ROOM}"
        )

    @cached_property
    def _resolved_root(self) -> Path:
        return self.root.resolve()  # once: a resolve is a system call a folder of the path

    def _path(self, key: str) -> Path:
        path = (self._resolved_root / key).resolve()
        if self._resolved_root not in path.parents:
            raise KeyError(key)  # keys come from job ids; never let one escape the root
        return path

    def put(self, key: str, data: bytes) -> None:
        self.put_pieces(key, (data,))

    def put_pieces(self, key: str, pieces: Iterable[Piece]) -> None:
        path = self._path(key)
        limit = max(self.room(), SMALL_WRITE_BYTES)
        written = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            try:
                with os.fdopen(fd, "wb") as handle:
                    for piece in pieces:
                        written += piece.nbytes if isinstance(piece, memoryview) else len(piece)
                        if written > limit:
                            raise self._full(key)
                        handle.write(piece)
                os.chmod(tmp, 0o644)  # mkstemp makes it private; chunks are ordinary files
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)  # a failed or abandoned write leaves nothing
                raise
        except PermissionError as exc:
            raise ChunkStoreRefusedError(f"{key}: {exc}") from exc
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # full before the reserve said so
                raise self._full(key) from exc
            raise ChunkWriteError(f"{key}: {exc}") from exc

    def get(self, key: str) -> bytes:
        with _reading(key):
            return self._path(key).read_bytes()

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        with _reading(key), self._path(key).open("rb") as handle:
            handle.seek(offset)
            return handle.read(length)

    def reader(self, key: str) -> tuple[Readable, int]:
        with _reading(key):
            handle = self._path(key).open("rb")
            return handle, os.fstat(handle.fileno()).st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def location(self, key: str) -> str:
        return key  # where it lies in the store; the server's own paths are not shown

    def download_url(self, key: str, media_type: str) -> str | None:
        return None  # the server sends a local file's bytes itself

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise _unreadable(key, exc) from exc

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix.rstrip("/")), ignore_errors=True)

    def keys(self, prefix: str, limit: int = 1000) -> list[str]:
        folder = self._path(prefix.rstrip("/"))
        try:
            if not folder.is_dir():
                return []
            found = sorted(
                p.relative_to(self.root.resolve()).as_posix()
                for p in folder.resolve().rglob("*")
                if p.is_file() and not p.name.startswith(".")
            )
        except OSError as exc:
            raise _unreadable(prefix, exc) from exc
        return found[:limit]


@contextmanager
def _reading(key: str) -> Iterator[None]:
    """A local read's errors as the port names them: ``KeyError`` for no such object, an
    unavailable store for any other."""
    try:
        yield
    except FileNotFoundError:
        raise KeyError(key) from None
    except OSError as exc:
        raise _unreadable(key, exc) from exc


def _unreadable(key: str, exc: OSError) -> ChunkStoreUnavailableError:
    code = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return ChunkStoreUnavailableError(key, code)


DOWNLOAD_SECONDS = 3600  # how long a presigned download stays good

# S3's answers that no retry can change (a throttle, a 500 or a dropped connection can).
REFUSALS = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "InvalidBucketName",
        "NoSuchBucket",
        "SignatureDoesNotMatch",
        "KMS.AccessDeniedException",
    }
)


class S3ChunkStore:
    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or aws_clients.client("s3")  # kept: ≈5 ms to make one

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except Exception as exc:  # botocore's errors: refused for good, or worth a retry
            where = f"s3://{self.bucket}/{self._key(key)}"
            if _error_code(exc) in REFUSALS:
                raise ChunkStoreRefusedError(f"{where}: {exc}") from exc
            raise ChunkWriteError(f"{where}: {exc}") from exc

    def put_pieces(self, key: str, pieces: Iterable[Piece]) -> None:
        self.put(key, b"".join(pieces))

    def get(self, key: str) -> bytes:
        return self._get(key)

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        return self._get(key, Range=f"bytes={offset}-{offset + length - 1}")

    def reader(self, key: str) -> tuple[Readable, int]:
        with self._reading(key):
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        return answer["Body"], int(answer["ContentLength"])

    def _get(self, key: str, **options: str) -> bytes:
        with self._reading(key):
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key), **options)
            body: bytes = answer["Body"].read()
        return body

    @contextmanager
    def _reading(self, key: str) -> Iterator[None]:
        """A read's errors as the port names them: ``KeyError`` for no such object, an
        unavailable store for any other."""
        try:
            yield
        except self.client.exceptions.NoSuchKey:
            raise KeyError(key) from None
        except Exception as exc:  # botocore's: throttled, refused, a connection dropped
            raise self._unavailable(key, exc) from exc

    def _unavailable(self, key: str, exc: Exception) -> ChunkStoreUnavailableError:
        return ChunkStoreUnavailableError(
            f"s3://{self.bucket}/{self._key(key)}", _error_code(exc) or type(exc).__name__
        )

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:  # botocore's: a 404 is an answer, anything else is not
            if _error_code(exc) in ("404", "NoSuchKey"):
                return False
            raise self._unavailable(key, exc) from exc
        return True

    def location(self, key: str) -> str:
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=3600
        )
        return url

    def download_url(self, key: str, media_type: str) -> str | None:
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ResponseContentType": media_type,
            },
            ExpiresIn=DOWNLOAD_SECONDS,
        )
        return url

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:  # botocore's
            raise self._unavailable(key, exc) from exc

    def room(self) -> int | None:
        return None  # S3 takes what it is given

    def keys(self, prefix: str, limit: int = 1000) -> list[str]:
        try:
            answer = self.client.list_objects_v2(
                Bucket=self.bucket, Prefix=self._key(prefix), MaxKeys=limit
            )
        except Exception as exc:  # botocore's
            raise self._unavailable(prefix, exc) from exc
        strip = len(self._key(""))
        return [item["Key"][strip:] for item in answer.get("Contents", [])]

    def delete_prefix(self, prefix: str) -> None:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix)
        )
        try:
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:  # at most 1000 a page, as DeleteObjects takes
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
        except Exception as exc:  # botocore's
            raise self._unavailable(prefix, exc) from exc


def store_for(url: str, min_free_bytes: int | None = None) -> ChunkStore:
    """The store a ``TDA_CHUNK_STORE`` URL names: ``file:///path`` or ``s3://bucket/prefix``;
    ``min_free_bytes``: what a folder's disk keeps free (FileChunkStore)."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        return S3ChunkStore(parsed.netloc, parsed.path)
    if parsed.scheme in ("file", ""):
        path = Path(os.path.expanduser(parsed.netloc + parsed.path))
        return FileChunkStore(path, min_free_bytes)
    raise ValueError(f"TDA_CHUNK_STORE must be file://... or s3://..., not {url!r}")


def _error_code(exc: Exception) -> str:
    """S3's error code in a botocore error; '' for one S3 never answered (a timeout, a dropped
    connection): those carry ``response=None``, not a missing one."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
