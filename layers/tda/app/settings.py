"""Settings from the environment (names as in the seed PRD): every read of it by the use cases
is here. Most are read once; the workflow's names are read per use, because the local runtime
creates its state machines after start-up (and tests vary the chunk size)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


@dataclass(frozen=True)
class Settings:
    max_sync_records: int
    max_records: int
    default_batch_size: int
    coherence_threshold: float
    tda_home: Path
    max_request_bytes: int
    max_response_bytes: int
    max_output_bytes: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            max_sync_records=_int_env("MAX_SYNC_RECORDS", 1000),
            max_records=_int_env("MAX_RECORDS", 1_000_000),
            default_batch_size=_int_env("DEFAULT_BATCH_SIZE", 50),
            coherence_threshold=float(os.environ.get("COHERENCE_THRESHOLD", "0.85")),
            tda_home=Path(os.environ.get("TDA_HOME", "~/.tda")).expanduser(),
            max_request_bytes=_int_env("MAX_REQUEST_BYTES", 1 << 20),
            # A synchronous response (gRPC caps a message at 64 MiB; estimates are ASCII).
            max_response_bytes=_int_env("MAX_RESPONSE_BYTES", 32 << 20),
            # A stream's or a job's whole output.
            max_output_bytes=_int_env("MAX_OUTPUT_BYTES", 16 << 30),
        )


settings = Settings.from_env()


def sync_state_machine() -> str:
    """The Express (sync) workflow's ARN; '' when there is none (the model paths then degrade)."""
    return os.environ.get("SYNC_STATE_MACHINE_ARN", "")


def job_state_machine() -> str:
    """The jobs workflow's ARN; '' when there is none."""
    return os.environ.get("JOB_STATE_MACHINE_ARN", "")


def job_chunk_records() -> int:
    """Records per job chunk (one Lambda invocation each)."""
    return _int_env("JOB_CHUNK_RECORDS", 10_000)
