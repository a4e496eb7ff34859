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
    """The service's limits and places, read once from the environment."""

    max_sync_records: int
    max_records: int
    default_batch_size: int
    coherence_threshold: float
    tda_home: Path
    max_request_bytes: int
    max_response_bytes: int
    max_output_bytes: int
    heavy_queue_seconds: float

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
            # The estimated CPU of heavy synchronous requests a server process takes at once,
            # running and queued: its last one is answered within about this long.
            heavy_queue_seconds=float(os.environ.get("HEAVY_QUEUE_SECONDS", "15")),
        )


settings = Settings.from_env()


def sync_state_machine() -> str:
    """The Express (sync) workflow's ARN; '' when there is none (the model paths then degrade)."""
    return os.environ.get("SYNC_STATE_MACHINE_ARN", "")


def job_state_machine() -> str:
    """The jobs workflow's ARN; '' when there is none."""
    return os.environ.get("JOB_STATE_MACHINE_ARN", "")


def max_running_jobs_per_caller() -> int:
    """Jobs one caller (an IAM identity behind the API) may have running at once."""
    return max(1, _int_env("MAX_RUNNING_JOBS_PER_CALLER", 5))


def max_running_jobs() -> int:
    """Jobs one server runs at once, whoever asks (0: no cap; the local runtime sets one)."""
    return max(0, _int_env("MAX_RUNNING_JOBS", 0))


def min_free_disk_bytes() -> int | None:
    """What a local chunk store's disk keeps free (None: the store's default)."""
    raw = os.environ.get("MIN_FREE_DISK_BYTES")
    return None if raw in (None, "") else max(0, int(raw))


def job_chunk_records() -> int:
    """Records per job chunk (one Lambda invocation each)."""
    return _int_env("JOB_CHUNK_RECORDS", 10_000)


@dataclass(frozen=True)
class ModelSettings:
    """The LLM path's configuration (names as in the seed PRD, plus ``LLM_*``), read per use."""

    anthropic_api_key: str
    anthropic_model: str
    anthropic_base_url: str
    base_url: str  # an OpenAI-compatible server (vLLM, llama.cpp, Ollama); '' = OpenAI's
    model: str
    api_key: str
    response_format: str
    deadline_seconds: float
    sync_budget_seconds: float
    call_timeout_seconds: float
    token_budget: int
    max_concurrency: int
    redis_url: str
    cache_store: str

    @property
    def openai_configured(self) -> bool:
        return bool(self.base_url or self.api_key)


def model_settings() -> ModelSettings:
    base_url = os.environ.get("LLM_BASE_URL", "")
    return ModelSettings(
        anthropic_api_key=os.environ.get("ANTHROPIC_API_KEY", ""),
        anthropic_model=os.environ.get("CLAUDE_MODEL", "claude-sonnet-4-20250514"),
        anthropic_base_url=os.environ.get("ANTHROPIC_BASE_URL", ""),
        base_url=base_url,
        model=os.environ.get("LLM_MODEL", "gpt-4o-mini" if not base_url else "default"),
        api_key=os.environ.get("LLM_API_KEY") or os.environ.get("OPENAI_API_KEY", ""),
        # Strict json_schema where the server has it (OpenAI); json_object + schema elsewhere
        # (llama.cpp answers 500 to json_schema).
        response_format=os.environ.get(
            "LLM_RESPONSE_FORMAT", "json_object" if base_url else "json_schema"
        ),
        deadline_seconds=float(os.environ.get("LLM_DEADLINE_SECONDS", "60")),
        # A sync request's whole workflow, counted from its execution's start: the model states
        # share it, so the chain ends within the HTTP API's 30 s whatever fails on the way.
        sync_budget_seconds=float(os.environ.get("SYNC_BUDGET_SECONDS", "15")),
        call_timeout_seconds=float(os.environ.get("LLM_CALL_TIMEOUT_SECONDS", "45")),
        token_budget=_int_env("LLM_MAX_TOKENS_PER_REQUEST", 200_000),
        max_concurrency=_int_env("LLM_MAX_CONCURRENCY", 16),
        redis_url=os.environ.get("REDIS_URL", ""),
        cache_store=os.environ.get("TDA_CACHE_STORE", ""),
    )


@dataclass(frozen=True)
class MemorySettings:
    """The memory paths' configuration (rag, hybrid), read per use."""

    vector_store_url: str  # '' = LanceDB under TDA_HOME/vectors
    weaviate_api_key: str
    coherence_threshold: float  # a generation at least this coherent may be learned
    min_quality: float  # patterns below this quality score are not retrieved
    search_mode: str  # vector, keyword or hybrid
    versions_kept_seconds: float  # LanceDB: how long a replaced version stays readable
    min_free_disk_bytes: int | None  # a local folder's disk keeps this free (None: default)
    store_timeout_seconds: float  # LanceDB on s3://: each request's


def memory_settings() -> MemorySettings:
    return MemorySettings(
        vector_store_url=os.environ.get("VECTOR_STORE_URL", ""),
        weaviate_api_key=os.environ.get("WEAVIATE_API_KEY", ""),
        coherence_threshold=float(os.environ.get("COHERENCE_THRESHOLD", "0.85")),
        min_quality=float(os.environ.get("RAG_MIN_QUALITY", "0")),
        search_mode=os.environ.get("RAG_SEARCH_MODE", "hybrid"),
        versions_kept_seconds=_seconds_env("LANCEDB_VERSIONS_KEPT_SECONDS", 60, 0.0, 30 * 86_400),
        min_free_disk_bytes=min_free_disk_bytes(),
        store_timeout_seconds=_seconds_env("VECTOR_STORE_TIMEOUT_SECONDS", 5, 0.1, 600.0),
    )


def _seconds_env(name: str, default: float, low: float, high: float) -> float:
    """``name``'s seconds (unset or empty: ``default``), held within ``low``..``high``."""
    return min(max(low, float(os.environ.get(name) or default)), high)
