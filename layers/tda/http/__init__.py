"""The HTTP API (FastAPI). FastAPI is imported here first, with two costs of its cold start cut.

The pydantic models it defines while being imported are built at their first use rather than
at import (``tda.deferred_models``): its OpenAPI document's models, which only
``GET /openapi.json`` uses.

And FastAPI asks of every route's models whether they are pydantic v1's, importing
``pydantic.v1`` to find out: ≈38 ms of the api function's import, to answer no. No class or
object can be pydantic v1's while ``pydantic.v1`` has not been imported, so until it has, the
answer is no without importing it; after, FastAPI's own check answers
(``_v1_checked_once_imported``).
"""

import sys
from collections.abc import Callable
from typing import Any

from tda.deferred_models import built_at_first_use

with built_at_first_use():
    import fastapi  # noqa: F401


def _v1_checked_once_imported() -> None:
    from fastapi import _compat, encoders
    from fastapi._compat import shared

    def only_once_imported(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
        def checked(value: Any) -> bool:
            return "pydantic.v1" in sys.modules and check(value)

        return checked

    # Where FastAPI binds them (shared's own annotation_is_pydantic_v1 calls the class check).
    model_class = getattr(shared, "is_pydantic_v1_model_class", None)
    instance = getattr(shared, "is_pydantic_v1_model_instance", None)
    if model_class is None or instance is None:  # another FastAPI: its checks as they are
        return
    setattr(shared, "is_pydantic_v1_model_class", only_once_imported(model_class))  # noqa: B010
    instance_checked = only_once_imported(instance)
    for module in (shared, _compat, encoders):
        if getattr(module, "is_pydantic_v1_model_instance", None) is instance:
            setattr(module, "is_pydantic_v1_model_instance", instance_checked)  # noqa: B010


_v1_checked_once_imported()
