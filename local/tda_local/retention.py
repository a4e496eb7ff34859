"""Local retention of job and stream outputs under ``TDA_HOME``, as the S3 lifecycle does in AWS.

A job's folder (chunks, manifest, submission record) is removed once nothing in it has changed
for ``JOB_RETENTION_DAYS`` (7 by default, as the template's ``ChunkRetentionDays``); `tda serve`
collects at start and every hour, and ``tda jobs gc`` on demand. A stream's own job is removed
as soon as it has been sent (``job_stream``). The local cache of model answers
(``TDA_HOME/cache``) loses the answers past their time at the same moments.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tda.adapters.caches import EXPIRY_BYTES, expired
from tda.adapters.chunk_stores import FileChunkStore
from tda.app.environment import read_float
from tda.app.job_api import CALLERS_FOLDER
from tda.app.ports_in_use import chunk_store

COLLECT_EVERY_SECONDS = 3600.0


@dataclass(frozen=True)
class Usage:
    jobs: int
    bytes: int


def retention_days() -> float:
    return read_float("JOB_RETENTION_DAYS")


def local_root() -> Path | None:
    """The local chunk store's folder, or None when chunks go to S3."""
    store = chunk_store()
    return store.root if isinstance(store, FileChunkStore) else None


def _jobs(root: Path) -> list[Path]:
    """The jobs' folders: not the running-jobs marks beside them, which submits keep tidy."""
    if not root.is_dir():
        return []
    return [d for d in root.iterdir() if d.is_dir() and d.name != CALLERS_FOLDER]


def usage(root: Path) -> Usage:
    jobs = _jobs(root)
    return Usage(len(jobs), sum(_size(d) for d in jobs))


def collect(root: Path, older_than_days: float, now: float | None = None) -> Usage:
    """Remove the jobs untouched for ``older_than_days``; what was removed."""
    cutoff = (time.time() if now is None else now) - older_than_days * 86400
    removed, freed = 0, 0
    for job in _jobs(root):
        if _newest(job) > cutoff:
            continue
        size = _size(job)
        shutil.rmtree(job, ignore_errors=True)
        removed, freed = removed + 1, freed + size
    return Usage(removed, freed)


def local_cache_root() -> Path | None:
    """The local model-answer cache's folder, or None when answers go to Redis or S3."""
    from tda import wiring
    from tda.app.settings import model_settings

    config = model_settings()
    url = wiring.cache_url(config)
    if config.redis_url or not url.startswith("file://"):
        return None
    return Path(url.removeprefix("file://"))


def collect_cache(root: Path, now: float | None = None) -> Usage:
    """Remove the cached model answers past their time (``Usage.jobs``: how many); a file
    being written (a dot file) is left alone."""
    when = time.time() if now is None else now
    removed, freed = 0, 0
    for path in _files(root) if root.is_dir() else []:
        if path.name.startswith("."):
            continue
        try:
            with path.open("rb") as handle:
                stale = expired(handle.read(EXPIRY_BYTES), when)
            if stale:
                size = path.stat().st_size
                path.unlink()
                removed, freed = removed + 1, freed + size
        except OSError:  # gone meanwhile, or not ours to read: the next sweep sees it again
            continue
    return Usage(removed, freed)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _newest(folder: Path) -> float:
    return max((p.stat().st_mtime for p in _files(folder)), default=folder.stat().st_mtime)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in _files(folder))
