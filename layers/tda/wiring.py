"""The composition root: the real adapters behind the ports, from the environment.

Called once by whatever starts first: each Lambda handler module, ``tda_local`` (serve, CLI)
and the tests' conftest. Idempotent.
"""

from __future__ import annotations

import os

from tda.adapters.chunk_stores import store_for
from tda.adapters.stepfunctions import StepFunctionsRunner
from tda.app import ports_in_use
from tda.app.settings import settings
from tda.ports.chunk_store import ChunkStore


def chunk_store_url() -> str:
    """``TDA_CHUNK_STORE``, or a folder under ``TDA_HOME`` (the local default)."""
    return os.environ.get("TDA_CHUNK_STORE") or f"file://{settings.tda_home / 'jobs'}"


def _chunk_store() -> ChunkStore:
    return store_for(chunk_store_url())


_RUNNER = StepFunctionsRunner()


def install() -> None:
    ports_in_use.install(
        ports_in_use.PortsInUse(chunk_store=_chunk_store, workflow=lambda: _RUNNER)
    )
