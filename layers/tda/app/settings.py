"""Settings from the environment (names as in the seed PRD): every read of it by the use cases
is here. Most are read once; the workflow's names are read per use, because the local runtime
creates its state machines after start-up (and tests vary the chunk size)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tda.app.environment import check_environment, read, read_float, read_int, read_text


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
    stream_stall_seconds: float
    max_unsent_bytes: int

    @classmethod
    def from_env(cls) -> Settings:
        max_records = read_int("MAX_RECORDS")
        return cls(
            # MAX_RECORDS caps every request: without the min, a cap under the default sync
            # limit held for jobs only.
            max_sync_records=min(read_int("MAX_SYNC_RECORDS"), max_records),
            max_records=max_records,
            default_batch_size=read_int("DEFAULT_BATCH_SIZE"),
            coherence_threshold=read_float("COHERENCE_THRESHOLD"),
            tda_home=Path(os.environ.get("TDA_HOME", "~/.tda")).expanduser(),
            max_request_bytes=read_int("MAX_REQUEST_BYTES"),
            # A synchronous response (gRPC caps a message at 64 MiB; estimates are ASCII).
            max_response_bytes=read_int("MAX_RESPONSE_BYTES"),
            # A stream's or a job's whole output.
            max_output_bytes=read_int("MAX_OUTPUT_BYTES"),
            # The estimated CPU of heavy synchronous requests a server process takes at once,
            # running and queued: its last one is answered within about this long.
            heavy_queue_seconds=read_float("HEAVY_QUEUE_SECONDS"),
            # How long a gRPC stream waits for its reader to take a message before it ends.
            stream_stall_seconds=read_float("STREAM_STALL_SECONDS"),
            # Answers a server process holds for callers not taking them, before it makes more.
            max_unsent_bytes=read_int("MAX_UNSENT_BYTES"),
        )


check_environment()  # every setting, bad ones named at once, before anything reads one
settings = Settings.from_env()


def sync_state_machine() -> str:
    """The Express (sync) workflow's ARN; '' when there is none (the model paths then degrade)."""
    return os.environ.get("SYNC_STATE_MACHINE_ARN", "")


def job_state_machine() -> str:
    """The jobs workflow's ARN; '' when there is none."""
    return os.environ.get("JOB_STATE_MACHINE_ARN", "")


def max_running_jobs_per_caller() -> int:
    """Jobs one caller (an IAM identity behind the API) may have running at once."""
    return read_int("MAX_RUNNING_JOBS_PER_CALLER")


def max_running_jobs() -> int:
    """Jobs one server runs at once, whoever asks (0: no cap; the local runtime sets one)."""
    return read_int("MAX_RUNNING_JOBS")


def min_free_disk_bytes() -> int | None:
    """What a local chunk store's disk keeps free (None: the store's default)."""
    value = read("MIN_FREE_DISK_BYTES")
    return None if value is None else int(value)


def job_chunk_records() -> int:
    """Records per job chunk (one Lambda invocation each)."""
    return read_int("JOB_CHUNK_RECORDS")


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
    base_url = read_text("LLM_BASE_URL")
    return ModelSettings(
        anthropic_api_key=os.environ.get("ANTHROPIC_API_KEY", ""),
        anthropic_model=os.environ.get("CLAUDE_MODEL", "claude-sonnet-4-20250514"),
        anthropic_base_url=read_text("ANTHROPIC_BASE_URL"),
        base_url=base_url,
        model=os.environ.get("LLM_MODEL", "gpt-4o-mini" if not base_url else "default"),
        api_key=os.environ.get("LLM_API_KEY") or os.environ.get("OPENAI_API_KEY", ""),
        # Strict json_schema where the server has it (OpenAI); json_object + schema elsewhere
        # (llama.cpp answers 500 to json_schema).
        response_format=str(
            read("LLM_RESPONSE_FORMAT") or ("json_object" if base_url else "json_schema")
        ),
        deadline_seconds=read_float("LLM_DEADLINE_SECONDS"),
        # A sync request's whole workflow, counted from its execution's start: the model states
        # share it, so the chain ends within the HTTP API's 30 s whatever fails on the way.
        sync_budget_seconds=read_float("SYNC_BUDGET_SECONDS"),
        call_timeout_seconds=read_float("LLM_CALL_TIMEOUT_SECONDS"),
        token_budget=read_int("LLM_MAX_TOKENS_PER_REQUEST"),
        max_concurrency=read_int("LLM_MAX_CONCURRENCY"),
        redis_url=read_text("REDIS_URL"),
        cache_store=read_text("TDA_CACHE_STORE"),
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
        vector_store_url=read_text("VECTOR_STORE_URL"),
        weaviate_api_key=os.environ.get("WEAVIATE_API_KEY", ""),
        coherence_threshold=read_float("COHERENCE_THRESHOLD"),
        min_quality=read_float("RAG_MIN_QUALITY"),
        search_mode=str(read("RAG_SEARCH_MODE")),
        versions_kept_seconds=read_float("LANCEDB_VERSIONS_KEPT_SECONDS"),
        min_free_disk_bytes=min_free_disk_bytes(),
        store_timeout_seconds=read_float("VECTOR_STORE_TIMEOUT_SECONDS"),
    )
