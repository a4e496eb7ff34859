"""The HTTP API (FastAPI). FastAPI is imported here first, with the pydantic models it defines
while being imported built at their first use rather than at import.

Those are its OpenAPI document's models (``fastapi.openapi.models``, ≈60 of them), which only
``GET /openapi.json`` uses: building them was ≈95 ms of the api function's cold start (of ≈610),
paid by every cold start for a document a caller rarely asks for, which then costs ≈10 ms more
once. ``defer_build`` is pydantic's own setting for this; it is set for these models only, as
the default of the models defined while FastAPI imports, then put back.
"""

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def _models_built_at_first_use() -> Iterator[None]:
    try:
        from pydantic._internal._config import config_defaults
    except ImportError:  # another pydantic: FastAPI's models built at import, as without this
        yield
        return
    before = config_defaults.get("defer_build", False)
    config_defaults["defer_build"] = True
    try:
        yield
    finally:
        config_defaults["defer_build"] = before


with _models_built_at_first_use():
    import fastapi  # noqa: F401
