"""A LanceDB store seeded with the shipped corpus (once per test process), and fresh copies of
it for the tests that write (learning, adding)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tda_local.cli import main

from ..conftest import session_folder

_SEEDED: list[Path] = []


def seeded_folder() -> Path:
    if not _SEEDED:
        folder = Path(session_folder("tda-test-seeded-")) / "vectors"
        mp = pytest.MonkeyPatch()
        mp.setenv("VECTOR_STORE_URL", str(folder))
        try:
            assert main(["rag", "seed"]) == 0  # the public way: tda rag seed
        finally:
            mp.undo()
        _SEEDED.append(folder)
    return _SEEDED[0]


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A copy of the seeded store of this test's own (a request that asks to learn writes)."""
    folder = tmp_path / "vectors"
    shutil.copytree(seeded_folder(), folder)
    monkeypatch.setenv("VECTOR_STORE_URL", str(folder))
    yield folder


fresh_store = seeded


@pytest.fixture
def empty_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "empty-vectors"
    monkeypatch.setenv("VECTOR_STORE_URL", str(folder))
    yield folder
