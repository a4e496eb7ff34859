"""The library's own data files (entities, catalog, vocabularies, prompts' settings), read once.

They are kept as YAML, commented for whoever edits them. The Lambda layer's build writes a JSON
twin beside each (``layers/build_layer.py``): a function then never imports a YAML parser (≈16 ms
of a cold start) and reads its data ≈40× faster. A twin is refused by the build unless it
holds exactly what the YAML does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def twin_of(path: Path) -> Path:
    return path.with_suffix(".json")


def load_data_file(path: Path) -> Any:
    """A data file's contents: its JSON twin when the build wrote one, else the YAML."""
    twin = twin_of(path)
    if twin.is_file():
        return json.loads(twin.read_bytes())
    return parse_yaml(path)


def parse_yaml(path: Path) -> Any:
    import yaml  # only where no twin was built (a checkout, the CLI)

    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
