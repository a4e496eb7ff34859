"""Pydantic's plugins off without the cost of looking for them.

pydantic's plugin loader imports ``importlib.metadata`` (and with it email, calendar, socket,
zipfile: ≈25 ms, 8% of a Lambda's cold start) the first time any model is built, even when
``PYDANTIC_DISABLE_PLUGINS`` forbids every plugin, as the template's Globals do. Then the loader
is replaced, before pydantic first asks for it, by one that loads none: what the real one
returns under that setting. Any other setting leaves pydantic as it is.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterable
from typing import Any

LOADER = "pydantic.plugin._loader"
ALL_OFF = ("__all__", "1", "true")  # the values pydantic reads as "no plugins at all"


def _no_plugins() -> Iterable[Any]:
    return ()


def skip_plugin_discovery() -> None:
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in ALL_OFF or LOADER in sys.modules:
        return
    loader = types.ModuleType(LOADER, "pydantic's plugin loader when every plugin is off")
    loader.get_plugins = _no_plugins  # type: ignore[attr-defined]
    sys.modules[LOADER] = loader
