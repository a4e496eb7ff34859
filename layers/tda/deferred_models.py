"""Pydantic models a library defines while it is imported, built at their first use instead.

Two libraries define pydantic models and validated functions at import that this service
rarely or never uses:

- FastAPI, its OpenAPI document's 36 models, which only ``GET /openapi.json`` uses: building them
  was ≈95 ms of the api function's cold start, paid for a document a caller rarely asks for
  (which then costs ≈10 ms more, once).
- LanceDB, through ``lance_namespace``: a remote catalog's generated REST client, hundreds of
  request and response models and every client method wrapped in ``validate_call``, none of
  them used by a table in a folder or on S3. Building them was ≈540 ms of the rag and hybrid
  functions' init (1.36 s), and of a local process's first memory request.

``defer_build`` is pydantic's own setting for this (models, and ``validate_call`` since 2.10):
it is made the default of what is defined during the import, then put back. A deferred model
or function builds itself at its first use, as it would have at import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def built_at_first_use() -> Iterator[None]:
    """Around the import of a library that defines pydantic models it may never use."""
    try:
        from pydantic._internal._config import config_defaults
    except ImportError:  # another pydantic: the models are built at import, as without this
        yield
        return
    before = config_defaults.get("defer_build", False)
    config_defaults["defer_build"] = True
    try:
        yield
    finally:
        config_defaults["defer_build"] = before
