"""What a local folder's disk keeps free (``MIN_FREE_DISK_BYTES``; by default 5% of the disk, at
most 1 GiB), for every store that writes into one: the chunk store and the vector store stop at
that line, not at a full disk the rest of the machine needs too."""

from __future__ import annotations

import shutil
from pathlib import Path

from tda.domain.limits import size_text

RESERVE_SHARE = 0.05  # of the disk kept free by default...
RESERVE_MAX_BYTES = 1 << 30  # ...up to this much


class DiskReserve:
    def __init__(self, folder: Path, min_free_bytes: int | None = None) -> None:
        """``min_free_bytes``: what the disk keeps free (None: RESERVE_SHARE of it, at most
        RESERVE_MAX_BYTES)."""
        self.folder = folder
        self.min_free_bytes = min_free_bytes

    def room(self) -> int:
        """Bytes that may still be written (negative: already below the reserve)."""
        disk = shutil.disk_usage(self._nearest_folder())
        return disk.free - self._reserve(disk.total)

    def reached(self, what: str) -> str:
        """Why ``what`` cannot be written: the reserve and what is free, in words."""
        disk = shutil.disk_usage(self._nearest_folder())
        return (
            f"{what}'s disk is down to the free space it keeps "
            f"({size_text(self._reserve(disk.total))}, MIN_FREE_DISK_BYTES; "
            f"{size_text(disk.free)} free)"
        )

    def _reserve(self, disk_bytes: int) -> int:
        if self.min_free_bytes is not None:
            return self.min_free_bytes
        return min(RESERVE_MAX_BYTES, int(disk_bytes * RESERVE_SHARE))

    def _nearest_folder(self) -> Path:
        """The folder, or the nearest one above it that exists (it is made on a write)."""
        folder = self.folder
        while not folder.is_dir() and folder != folder.parent:
            folder = folder.parent
        return folder
