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
"""

from __future__ import annotations

import builtins
import dataclasses
import marshal
import sys
from collections.abc import Iterable, Mapping
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from typing import Any

# Beside the package's bytecode, named like it: one store per Python.
STORE = Path(__file__).parent / "__pycache__" / f"dataclasses.{sys.implementation.cache_tag}.bin"

# What install() found missing from the store (texts compiled at run time); the build's check
# reads it (scripts/check_built.py): a function that compiles any has a stale store.
missed: list[str] = []


def install(store: Path = STORE) -> int:
    """Serve the dataclasses module's method texts from ``store``; returns how many it holds
    (0: no store, or one of another Python, and dataclasses left as they are)."""
    try:
        data = store.read_bytes()
    except OSError:
        return 0
    if data[: len(MAGIC_NUMBER)] != MAGIC_NUMBER:
        return 0
    try:
        compiled = marshal.loads(data[len(MAGIC_NUMBER) :])
    except (EOFError, ValueError, TypeError):  # cut short or damaged: compile, as without one
        return 0
    if not isinstance(compiled, dict):
        return 0

    def exec_stored(source: Any, globals: Any = None, locals: Any = None) -> None:
        # Each code object is unmarshalled at its first use: a function uses a fraction of them.
        code = compiled.get(source) if isinstance(source, str) else None
        if code is None:
            missed.append(source)
            return builtins.exec(compiled_as_exec_would(source), globals, locals)
        return builtins.exec(marshal.loads(code), globals, locals)

    dataclasses.exec = exec_stored  # type: ignore[attr-defined]  # shadows the builtin there
    return len(compiled)


def record() -> set[str]:
    """From now on, the text of every dataclass method built, in the returned set."""
    seen: set[str] = set()

    def exec_recorded(source: Any, globals: Any = None, locals: Any = None) -> None:
        if isinstance(source, str):
            seen.add(source)
        return builtins.exec(compiled_as_exec_would(source), globals, locals)

    dataclasses.exec = exec_recorded  # type: ignore[attr-defined]
    return seen


def compiled_as_exec_would(source: Any) -> Any:
    """``source`` compiled as the ``exec`` called in dataclasses.py compiles it: with that
    module's ``__future__`` flags, none. Not this module's: ``annotations`` would turn every
    ``__init__``'s annotations into strings."""
    if not isinstance(source, str):
        return source
    return compile(source, "<string>", "exec", dont_inherit=True)


def save(texts: Iterable[str], store: Path = STORE) -> Mapping[str, bytes]:
    """Compile each text as ``exec`` would and write them to ``store``."""
    compiled = {text: marshal.dumps(compiled_as_exec_would(text)) for text in sorted(texts)}
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(MAGIC_NUMBER + marshal.dumps(compiled))
    return compiled
