"""The chunk store port: where job chunks, manifests and offloaded responses live.

Adapters: ``tda.adapters.chunk_stores`` (a local folder, S3). ``InMemoryChunkStore`` here is for
tests and for anything that must not touch a disk. Every write replaces the whole object, so a
retried chunk overwrites itself and a reader never sees half a chunk.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Protocol

from tda.domain.errors import TdaError, TransientError


class ChunkWriteError(TransientError):
    """A chunk or manifest could not be stored; transient as far as the workflow knows (retried)."""


class ChunkStoreUnavailableError(TransientError):
    """The store could not be read, listed or emptied now (S3 throttling or gone, a folder
    unreadable): ``code`` is what the store said (S3's error code, an errno name). The API
    answers 503."""

    def __init__(self, where: str, code: str) -> None:
        super().__init__(f"{where}: {code}")
        self.code = code

    @property
    def for_caller(self) -> str:
        """What a caller is told: what the store said, not where it is (bucket names and paths
        stay in the log)."""
        return f"the job store cannot be read now ({self.code}); try again later"


class ChunkStoreRefusedError(TdaError, RuntimeError):
    """The store refused the write for good (access denied, no such bucket, a read-only
    folder): retrying cannot help, so the workflow does not (the job fails, saying why)."""


class StorageFullError(ChunkStoreRefusedError):
    """The store has no room left: a local disk down to the free space it keeps
    (``MIN_FREE_DISK_BYTES``). Final, like any refusal: a disk does not empty itself in the
    seconds a retry waits. A job meeting it fails, saying so; a submit is answered 507."""


# What every StorageFullError tells its caller to do.
FREE_SOME_ROOM = "free some (tda jobs gc, tda jobs rm JOB_ID), or point TDA_HOME at a larger disk"


Piece = bytes | memoryview


class Readable(Protocol):
    """An object opened for reading: a file, S3's streaming body."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class ChunkStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def put_pieces(self, key: str, pieces: Iterable[Piece]) -> None: ...

    def get(self, key: str) -> bytes:
        """The object's bytes; ``KeyError`` when there is none."""
        ...

    def get_range(self, key: str, offset: int, length: int) -> bytes: ...

    def reader(self, key: str) -> tuple[Readable, int]:
        """The object opened for reading, and its size; ``KeyError`` when there is none. Once
        opened, a local file's bytes stay readable if the object is deleted meanwhile. The
        caller closes it."""
        ...

    def exists(self, key: str) -> bool: ...

    def location(self, key: str) -> str: ...

    def download_url(self, key: str, media_type: str) -> str | None:
        """A URL a client can fetch the object from itself, served as ``media_type`` (S3's
        presigned GET), or None when the store has none (a local folder): then the server
        sends the bytes."""
        ...

    def delete(self, key: str) -> None: ...

    def delete_prefix(self, prefix: str) -> None:
        """Every object under ``prefix`` (a job's folder), partial writes included."""
        ...

    def keys(self, prefix: str, limit: int = 1000) -> list[str]:
        """Up to ``limit`` keys under ``prefix``, as given to ``put``."""
        ...

    def room(self) -> int | None:
        """Bytes the store takes before it refuses to (a local disk, less what it keeps free;
        below 0 when it is past that), or None: no limit on this side (S3)."""
        ...


class InMemoryChunkStore:
    """A chunk store in a dict: the port's contract with nothing behind it."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = bytes(data)

    def put_pieces(self, key: str, pieces: Iterable[Piece]) -> None:
        self.objects[key] = b"".join(bytes(piece) for piece in pieces)

    def get(self, key: str) -> bytes:
        return self.objects[key]

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        return self.objects[key][offset : offset + length]

    def reader(self, key: str) -> tuple[Readable, int]:
        data = self.objects[key]
        return io.BytesIO(data), len(data)

    def exists(self, key: str) -> bool:
        return key in self.objects

    def location(self, key: str) -> str:
        return f"memory://{key}"

    def download_url(self, key: str, media_type: str) -> str | None:
        return None

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def delete_prefix(self, prefix: str) -> None:
        for key in [k for k in self.objects if k.startswith(prefix)]:
            del self.objects[key]

    def keys(self, prefix: str, limit: int = 1000) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))[:limit]

    def room(self) -> int | None:
        return None
