"""Dataclass methods loaded as bytecode, the way modules are: a cold start's largest avoidable cost.

CPython (3.11, 3.12) writes the source of each dataclass method (``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, a frozen class's ``__setattr__`` and ``__delattr__``) and ``exec``-s it,
one compile per method. Compiling that text was 80 ms of a router's cold import on 3.12 (395
methods of 85 dataclasses: ours, pydantic's, annotated_types'), a fifth of it, every cold start.

The text depends only on a class's fields and options. So the layer build imports every module
of the package with ``record`` on, compiles each text it saw, and stores the code objects,
marshalled and keyed by their text, in ``STORE`` (``save``). At start, ``install`` has the
``dataclasses`` module execute the stored code for a text it knows and compile any other as it
always did: the same functions either way, compiled from the same text by the same Python. A store
written by another Python (its magic number) is not read.

Where no build wrote one (a checkout, a pip install), the CLI keeps what a run compiled
(``keep_missed``), as Python keeps a module's bytecode: the next run reads it. Not under ``-B`` or
``PYTHONDONTWRITEBYTECODE``, as for bytecode.
"""

from __future__ import annotations

import builtins
import dataclasses
import marshal
import sys
from collections.abc import Iterable, Mapping
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType
from typing import Any

# Beside the package's bytecode, named like it: one store per Python.
STORE = Path(__file__).parent / "__pycache__" / f"dataclasses.{sys.implementation.cache_tag}.bin"

# The texts compiled at run time since install(), no store holding them: the build's check reads
# it (scripts/check_built.py: a function that compiles any has a stale store); the CLI keeps them.
missed: dict[str, CodeType] = {}
# The store as install() read it, marshalled code by text.
_held: dict[str, bytes] = {}


def install(store: Path = STORE) -> int:
    """Serve the dataclasses module's method texts from ``store``; returns how many it holds.
    With no store to read (none, or another Python's) and none to be written, dataclasses are
    left as they are."""
    held = _read(store)
    if not held and sys.dont_write_bytecode:
        return 0
    _held.clear()
    _held.update(held)

    def exec_stored(source: Any, globals: Any = None, locals: Any = None) -> None:
        if not isinstance(source, str):
            return builtins.exec(source, globals, locals)
        code = held.get(source)  # unmarshalled at first use: a function uses a fraction of them
        if code is not None:
            return builtins.exec(marshal.loads(code), globals, locals)
        compiled = missed[source] = compiled_as_exec_would(source)
        return builtins.exec(compiled, globals, locals)

    dataclasses.exec = exec_stored  # type: ignore[attr-defined]  # shadows the builtin there
    return len(held)


def keep_missed(store: Path = STORE) -> int:
    """Add what this process compiled to ``store`` (replaced whole, never left half-written);
    returns how many were added: none where Python writes no bytecode, or cannot write there."""
    if not missed or sys.dont_write_bytecode:
        return 0
    kept = {**_held, **{text: marshal.dumps(code) for text, code in missed.items()}}
    try:
        _write(store, kept)
    except OSError:  # a read-only install: compiled at each run, as before
        return 0
    return len(missed)


def record() -> set[str]:
    """From now on, the text of every dataclass method built, in the returned set."""
    seen: set[str] = set()

    def exec_recorded(source: Any, globals: Any = None, locals: Any = None) -> None:
        if isinstance(source, str):
            seen.add(source)
        return builtins.exec(compiled_as_exec_would(source), globals, locals)

    dataclasses.exec = exec_recorded  # type: ignore[attr-defined]
    return seen


def save(texts: Iterable[str], store: Path = STORE) -> None:
    """Compile each text as ``exec`` would and write them to ``store``."""
    _write(store, {text: marshal.dumps(compiled_as_exec_would(text)) for text in sorted(texts)})


def compiled_as_exec_would(source: Any) -> Any:
    """``source`` compiled as the ``exec`` called in dataclasses.py compiles it: with that
    module's ``__future__`` flags, none. Not this module's: ``annotations`` would turn every
    ``__init__``'s annotations into strings."""
    if not isinstance(source, str):
        return source
    return compile(source, "<string>", "exec", dont_inherit=True)


def _read(store: Path) -> dict[str, bytes]:
    try:
        data = store.read_bytes()
    except OSError:
        return {}
    if data[: len(MAGIC_NUMBER)] != MAGIC_NUMBER:
        return {}
    try:
        held = marshal.loads(data[len(MAGIC_NUMBER) :])
    except (EOFError, ValueError, TypeError):  # cut short or damaged: compile, as without one
        return {}
    return held if isinstance(held, dict) else {}


def _write(store: Path, compiled: Mapping[str, bytes]) -> None:
    # Imported here: only a build or the CLI's end writes a store, never a cold start.
    from tda.domain.data_file import write_whole

    write_whole(store, MAGIC_NUMBER + marshal.dumps(dict(compiled)))  # read whole by the next
