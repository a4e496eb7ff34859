"""The composition root: the real adapters behind the ports, from the environment.

Called once by whatever starts first: each Lambda handler module, ``tda_local`` (serve, CLI)
and the tests' conftest. Idempotent. ``model_http_client`` (tests, benchmarks) is the HTTP
client the model SDKs use instead of their own (an ``httpx2.Client`` with a scripted
transport).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from tda.adapters.stepfunctions import StepFunctionsRunner
from tda.app import ports_in_use
from tda.app.environment import read_text
from tda.app.settings import (
    MemorySettings,
    ModelSettings,
    memory_settings,
    min_free_disk_bytes,
    model_settings,
    settings,
)
from tda.domain.routing import GenerationPath
from tda.paths import registry
from tda.paths.base import Generator
from tda.paths.traditional import pools
from tda.ports.cache import Cache
from tda.ports.chunk_store import ChunkStore
from tda.ports.metrics import Metrics, NullMetrics

if TYPE_CHECKING:  # the model port's classes: imported by the model paths, not every function
    from tda.ports.model import ModelClient


def chunk_store_url() -> str:
    """``TDA_CHUNK_STORE``, or a folder under ``TDA_HOME`` (the local default)."""
    return read_text("TDA_CHUNK_STORE") or f"file://{settings.tda_home / 'jobs'}"


def cache_url(config: ModelSettings) -> str:
    """``TDA_CACHE_STORE``; else beside the chunks in S3 (``…/cache``), or ``TDA_HOME/cache``."""
    if config.cache_store:
        return config.cache_store
    chunks = chunk_store_url()
    if chunks.startswith("s3://"):
        return chunks.rstrip("/") + "/cache"
    return f"file://{settings.tda_home / 'cache'}"


# The stores' adapters are imported by their first use (a job, a model path's cache): not by a
# one-off `tda generate`, which would pay ≈3 ms for shutil, tempfile and the archive modules.


def _chunk_store() -> ChunkStore:
    from tda.adapters.chunk_stores import store_for

    return store_for(chunk_store_url(), min_free_disk_bytes())


def _cache() -> Cache:
    from tda.adapters.caches import RedisCache, StoreCache
    from tda.adapters.chunk_stores import store_for

    config = model_settings()
    if config.redis_url:
        return RedisCache(config.redis_url)
    return StoreCache(store_for(cache_url(config), min_free_disk_bytes()))


_RUNNER = StepFunctionsRunner()


def model_clients(config: ModelSettings, http_client: Any = None) -> dict[str, ModelClient]:
    """Provider → client, in fallback order, for the providers configured. Each client imports
    its SDK at its first call, never here."""
    from tda.adapters.model_clients import AnthropicClient, DeferredClient, OpenAICompatibleClient

    clients: dict[str, ModelClient] = {}
    if config.anthropic_api_key:
        clients["anthropic"] = DeferredClient(
            "anthropic",
            config.anthropic_model,
            lambda: AnthropicClient(
                config.anthropic_api_key,
                config.anthropic_model,
                config.anthropic_base_url or None,
                http_client=http_client,
            ),
        )
    if config.openai_configured:
        clients["openai"] = DeferredClient(
            "openai",
            config.model,
            lambda: OpenAICompatibleClient(
                config.api_key,
                config.model,
                config.base_url or None,
                config.response_format,
                http_client=http_client,
            ),
        )
    return clients


def _llm_factory(http_client: Any) -> Any:
    def make() -> Generator:
        from tda.paths.llm.generator import LLMGenerator
        from tda.paths.llm.options import LLMOptions

        config = model_settings()
        options = LLMOptions(
            deadline_seconds=config.deadline_seconds,
            call_timeout_seconds=config.call_timeout_seconds,
            token_budget=config.token_budget,
            max_concurrency=config.max_concurrency,
        )
        return LLMGenerator(
            model_clients(config, http_client),
            _cache,
            lambda: registry.traditional(),
            options,
        )

    return make


def vector_store_url(config: MemorySettings) -> str:
    """``VECTOR_STORE_URL``; else beside the chunks in S3 (``…/vectors``), or
    ``TDA_HOME/vectors`` (LanceDB in a folder: the local default)."""
    if config.vector_store_url:
        return config.vector_store_url
    chunks = chunk_store_url()
    if chunks.startswith("s3://"):
        return chunks.rstrip("/") + "/vectors"
    return str(settings.tda_home / "vectors")


def vector_store(url: str, config: MemorySettings) -> Any:
    """The store a ``VECTOR_STORE_URL`` names: weaviate://…, s3://… or a folder."""
    if url.startswith(("weaviate://", "weaviates://")):
        from tda.adapters.weaviate_store import WeaviateStore

        return WeaviateStore(
            url, config.weaviate_api_key, request_timeout_seconds=config.store_timeout_seconds
        )
    from tda.adapters.lance_store import LanceStore

    return LanceStore(
        url.removeprefix("file://"),
        config.versions_kept_seconds,
        config.min_free_disk_bytes,
        config.store_timeout_seconds,
    )


_MEMORIES: dict[tuple[str, float, int | None, float], Any] = {}
_MEMORY_LOCK = threading.Lock()


def memory() -> Any:
    """This process's memory for the configured store (one connection per URL, kept warm: a
    LanceDB connection and the embedding model are made once)."""
    from tda.adapters.embeddings import MiniLMEmbedder
    from tda.paths.retrieval.memory import Memory

    config = memory_settings()
    url = vector_store_url(config)
    with _MEMORY_LOCK:
        # The store's own settings in the key: set otherwise, it is another store.
        key = (
            url,
            config.versions_kept_seconds,
            config.min_free_disk_bytes,
            config.store_timeout_seconds,
        )
        found = _MEMORIES.get(key)
        if found is None:
            embedder = next((m.embedder for m in _MEMORIES.values()), None) or MiniLMEmbedder()
            found = _MEMORIES[key] = Memory(vector_store(url, config), embedder)
        return found


def warm_memory() -> None:
    """The embedding model loaded and the store opened now (a Lambda's init, ``tda serve``'s
    start), not by the first request (≈3 s here). Best effort: a store that cannot be reached
    now is reported by the request that needs it."""
    from tda.ports.memory import COLLECTIONS, Filters

    try:
        warm = memory()
        warm.embedder.embed(["warm"])
        for collection in COLLECTIONS:
            warm.search(collection, "warm", Filters(), 1)
    except Exception:  # any failure here is the first request's to report
        return


def _rag_generator() -> Any:
    from tda.adapters.embedding_files import missing_model
    from tda.paths.retrieval.generator import RAGGenerator, RAGOptions

    config = memory_settings()
    return RAGGenerator(
        memory,
        RAGOptions(
            coherence_threshold=config.coherence_threshold,
            min_quality=config.min_quality,
            search_mode=config.search_mode,
        ),
        missing_model,
    )


def _hybrid_generator() -> Generator:
    from tda.paths.hybrid.generator import HybridGenerator
    from tda.paths.llm.generator import LLMGenerator

    def llm() -> LLMGenerator | None:
        found = registry.generator_for(GenerationPath.LLM)
        return found if isinstance(found, LLMGenerator) else None

    return HybridGenerator(_rag_generator(), llm)


def install_once(metrics: Metrics | None = None) -> None:
    """``install`` unless this process installed its adapters already (a Lambda handler module
    imported by the local runtime, or by a test, must not undo what they installed).

    ``metrics``: where the use cases' counts go (a Lambda handler's ``EmfMetrics``); nowhere
    when not given."""
    if not ports_in_use.is_installed():
        install(metrics=metrics)


def install(model_http_client: Any = None, metrics: Metrics | None = None) -> None:
    ports_in_use.install(
        ports_in_use.PortsInUse(
            chunk_store=_chunk_store,
            workflow=lambda: _RUNNER,
            metrics=metrics or NullMetrics(),
            cache=_cache,
        )
    )
    pools.keep_built_pools_with(_cache)
    registry.register(GenerationPath.LLM, _llm_factory(model_http_client))
    registry.register(GenerationPath.RAG, _rag_generator)
    registry.register(GenerationPath.HYBRID, _hybrid_generator)
