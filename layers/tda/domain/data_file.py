"""The library's own data files (entities, catalog, vocabularies, prompts' settings), read once.

They are kept as YAML, commented for whoever edits them. The Lambda layer's build writes a JSON
twin beside each (``layers/build_layer.py``): a function then never imports a YAML parser (≈16 ms
of a cold start) and reads its data ≈40× faster. A twin is refused by the build unless it
holds exactly what the YAML does.

Where no build wrote twins (a checkout, an installed package: the CLI, ``tda serve``), the YAML
is parsed once and a JSON copy kept in ``__pycache__`` beside it, as Python keeps bytecode:
stamped with the YAML's size and modification time, and parsed again when either changes. The
YAML parser then costs a process nothing (≈30 ms of CPU, 8 % of a one-record CLI run). A
folder that cannot be written to only means parsing each time, and so does
``PYTHONDONTWRITEBYTECODE``: whoever keeps Python from writing beside the sources keeps this
from doing so too.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

CACHE_FOLDER = "__pycache__"
# In every copy's stamp, as bytecode carries its magic number: a change to how a YAML is read
# (``parse_yaml``) bumps it, and every copy made the old way is parsed again.
CACHE_FORMAT = 1


def twin_of(path: Path) -> Path:
    return path.with_suffix(".json")


def cached_copy_of(path: Path) -> Path:
    return path.parent / CACHE_FOLDER / f"{path.name}.json"


def load_data_file(path: Path) -> Any:
    """A data file's contents: its JSON twin when the build wrote one, else the YAML (through
    its cached copy while that is current)."""
    twin = twin_of(path)
    if twin.is_file():
        return json.loads(twin.read_bytes())
    stat = path.stat()
    stamp = f"tda-data {CACHE_FORMAT} {stat.st_size} {stat.st_mtime_ns}".encode()
    cached = cached_copy_of(path)
    try:
        head, _, body = cached.read_bytes().partition(b"\n")
        if head == stamp:
            return json.loads(body)
    except (OSError, ValueError):
        pass  # none yet, or unreadable: parsed below and written again
    data = parse_yaml(path)
    _keep(cached, stamp, data)
    return data


def exact_json(data: Any) -> str:
    """``data`` as JSON text that reads back exactly as ``data`` (a build's twin, a checkout's
    copy); ValueError when JSON cannot hold it (a date, a set, NaN)."""
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    if json.loads(text) != data:
        raise ValueError("its JSON would read back differently")
    return text


def parse_yaml(path: Path) -> Any:
    import yaml  # only where no twin was built (a checkout, the CLI)

    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


def _keep(cached: Path, stamp: bytes, data: Any) -> None:
    """Writes the cached copy whole (another process may be reading it), when JSON holds the
    data exactly; otherwise, or where nothing may or can be written, keeps nothing."""
    if sys.dont_write_bytecode:
        return
    try:
        write_whole(cached, stamp + b"\n" + exact_json(data).encode())
    except (OSError, ValueError):
        return


def write_whole(path: Path, data: bytes) -> None:
    """``data`` as ``path``'s whole content, written beside it and moved into place: a reader sees
    the old file or the new one, never part of one, and a write cut short (a full disk) leaves
    nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
