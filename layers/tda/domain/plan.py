"""A request's plan: everything needed to make any record of it, checked before any work.

Every path reads the same plan (the entity's spec, the count, the seed, the locale, the
scenarios in order); a range of it (``start``, ``count``) is a stream's part or a job's chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from random import SystemRandom
from typing import Any

import numpy as np

from tda.domain.catalog import Catalog
from tda.domain.schema.spec import EntitySpec

BATCH_ROWS = 10000  # records made at once: a batch's seed stream is its own (batch k, seed)
SEED_BITS = 62

# A seed no caller chose: drawn from the OS's entropy, as ``secrets.randbits`` draws it (the same
# SystemRandom), without importing ``secrets``, whose hmac and OpenSSL hashlib are ≈5 ms of a
# cold start.
fresh_seed = SystemRandom().getrandbits


def stream_seed(seed: int, stream: int) -> list[int]:
    """What seeds numpy's generator for ``stream`` of a request's ``seed``: numpy takes no
    negative seed, and the contract's go down to -2**63 (one was an HTTP 500 on the rag path)."""
    return [seed & (2**63 - 1), stream]


@dataclass(frozen=True)
class SlabWindow:
    """Records ``[offset, offset + count)`` of the ``size``-record batch seeded with ``base``."""

    base: int
    size: int
    offset: int


@dataclass(frozen=True)
class Override:
    """A scenario's fixed value for one field, in internal form (cents, epoch seconds...)."""

    path: str
    value: Any


@dataclass(frozen=True)
class ScenarioPlan:
    """A scenario as planned: its name, how many records, and the overrides they take."""

    name: str
    count: int
    overrides: tuple[Override, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ModelBrief:
    """What a model path reads of a request besides the records' shape."""

    context: str = ""
    coherent: bool = False  # "coherent"/"realistic" hints
    defect_triggering: bool = False
    use_cache: bool = False
    bulk: bool = False  # a "bulk" hint: catalog mode whatever the count
    learn_from_history: bool = False  # store a coherent generation back as patterns
    production_like: bool = False  # draw from a stored production sample's distributions


@dataclass(frozen=True)
class GenerationPlan:
    """Everything needed to make any record of a request, checked and compiled."""

    spec: EntitySpec
    count: int
    seed: int
    locale: str
    scenarios: tuple[ScenarioPlan, ...]
    window: SlabWindow | None = None  # a warm slab's slice (tda.paths.traditional.slabs)
    brief: ModelBrief = ModelBrief()
    catalog: Catalog | None = None  # a model-written vocabulary (the LLM path's catalog mode)

    @property
    def batch_count(self) -> int:
        return math.ceil(self.count / BATCH_ROWS)

    def labels(self, start: int, stop: int) -> np.ndarray:
        """Scenario number of each record in [start, stop): scenarios fill the output in order."""
        ends = np.cumsum([s.count for s in self.scenarios])
        return np.searchsorted(ends, np.arange(start, stop), side="right")
