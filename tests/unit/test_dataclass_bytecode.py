"""The layer's compiled dataclass methods (``tda/dataclass_bytecode.py``, written by
``layers/build_layer.py``): a function importing the layer compiles none of them at its cold
start, and behaves exactly as it does without them. Each run is a fresh process, as a cold start
is: the store changes how the ``dataclasses`` module builds every class after it."""

from __future__ import annotations

import dataclasses
import json
import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tda import dataclass_bytecode

from .test_data_file_twins import PACKAGE, build_layer

ROUTER = Path(__file__).resolve().parents[2] / "functions" / "router"
STORE = f"tda/__pycache__/dataclasses.{sys.implementation.cache_tag}.bin"

# The router's cold start and a first request, as Lambda runs it: what the store held, what was
# compiled anyway, and the records served.
SERVE = """
import json, sys
sys.path[:0] = sys.argv[1:3]
import app
import tda.dataclass_bytecode as methods
answer = app.lambda_handler({"request": {"entity": "cart", "count": 5, "seed": 11}}, None)
assert methods.__file__.startswith(sys.argv[2]), methods.__file__
print(json.dumps({"held": methods.STORE.is_file(), "missed": len(methods.missed),
                  "records": answer["data"], "count": answer["record_count"]}))
"""

# Classes with every option that changes a generated method, and what each method does.
CLASSES = """
import dataclasses, inspect, json, sys
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any
from tda import dataclass_bytecode as methods
mode, store = sys.argv[1], Path(sys.argv[2])
texts = methods.record() if mode == "record" else None
held = methods.install(store) if mode == "install" else 0

@dataclass(frozen=True, order=True)
class Point:
    x: int
    y: int = 0
    tags: list = field(default_factory=list, compare=False, repr=False)

@dataclass(kw_only=True, slots=True)
class Options:
    name: str
    scale: float = 1.0
    derived: str = field(init=False, default="")
    seed: InitVar[int] = 0
    def __post_init__(self, seed):
        self.derived = f"{self.name}:{seed}"

@dataclass(unsafe_hash=True, eq=True)
class Key:
    a: tuple
    b: "str" = "b"

p, q = Point(1, 2, ["t"]), Point(1, 3)
try:
    p.x = 5
    frozen = "assigned"
except dataclasses.FrozenInstanceError as exc:
    frozen = repr(exc)
o = Options(name="n", seed=3)
o.scale = 2.5
seen = {
    "repr": [repr(p), repr(o), repr(Key((1,)))],
    "eq": [p == Point(1, 2), p < q, o == Options(name="n", seed=3, scale=2.5)],
    "hash": [hash(p) == hash(Point(1, 2)), hash(Key((1,))) == hash(Key((1,)))],
    "frozen": frozen,
    "init": [str(inspect.signature(c)) for c in (Point, Options, Key)],
    "derived": o.derived, "slots": Options.__slots__, "match": Point.__match_args__,
}
if mode == "record":
    methods.save(texts, store)
print(json.dumps({"seen": seen, "held": held, "missed": len(methods.missed)}))
"""


def run(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])


def copy_of_the_package(site: Path) -> Path:
    shutil.copytree(PACKAGE, site / "tda", ignore=shutil.ignore_patterns("__pycache__"))
    return site


def cli(site: Path, **env: str) -> bytes:
    """``tda generate`` with the package in ``site``, Python writing bytecode unless told not."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    command = [sys.executable, "-m", "tda_local.cli", "generate", "cart", "-n", "3", "--seed", "5"]
    done = subprocess.run(
        command,
        env={**environment, "PYTHONPATH": str(site), **env},
        capture_output=True,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The package as the layer build leaves it, with its store, and the same without."""
    with_store = copy_of_the_package(tmp_path_factory.mktemp("with"))
    without = copy_of_the_package(tmp_path_factory.mktemp("without"))
    assert build_layer().write_dataclass_bytecode(with_store) > 300
    assert (with_store / STORE).is_file() and not (without / STORE).exists()
    return with_store, without


def test_a_function_on_the_built_layer_compiles_no_dataclass_method_and_serves_the_same(
    sites: tuple[Path, Path],
) -> None:
    with_store, without = sites
    built = run(SERVE, str(ROUTER), str(with_store))
    plain = run(SERVE, str(ROUTER), str(without))
    assert built["held"] and built["missed"] == 0
    assert not plain["held"]
    assert built["count"] == plain["count"] == 5
    assert built["records"] == plain["records"]


def test_methods_from_the_store_behave_as_the_ones_compiled_at_run_time(tmp_path: Path) -> None:
    store = str(tmp_path / "store.bin")
    recorded = run(CLASSES, "record", store)
    installed = run(CLASSES, "install", store)
    compiled = run(CLASSES, "none", store)
    assert installed["held"] >= 10 and installed["missed"] == 0
    assert installed["seen"] == compiled["seen"] == recorded["seen"]
    assert compiled["seen"]["frozen"].startswith("FrozenInstanceError")
    assert compiled["seen"]["derived"] == "n:3"


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"\x00\x00\r\n" + data[4:], id="another-pythons-magic"),
        pytest.param(lambda data: data[: len(data) // 2], id="cut-short"),
        pytest.param(lambda data: data[:4] + b"\xff" * 64, id="garbage"),
        pytest.param(lambda data: b"", id="empty"),
    ],
)
def test_a_store_it_cannot_trust_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: object
) -> None:
    store = tmp_path / "store.bin"
    dataclass_bytecode.save(["def __create_fn__():\n def f(self):\n  return 1\n return f"], store)
    store.write_bytes(damage(store.read_bytes()))  # type: ignore[operator]
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.delattr(dataclasses, "exec", raising=False)  # and put back as it was after
    assert dataclass_bytecode.install(store) == 0
    assert "exec" not in vars(dataclasses)


def test_no_store_and_none_to_write_is_no_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.delattr(dataclasses, "exec", raising=False)
    assert dataclass_bytecode.install(tmp_path / "absent.bin") == 0
    assert "exec" not in vars(dataclasses)


def test_the_cli_keeps_what_a_run_compiled_and_the_next_run_compiles_nothing(
    tmp_path: Path,
) -> None:
    site = copy_of_the_package(tmp_path)
    first = cli(site)
    kept = (site / STORE).read_bytes()
    assert len(marshal.loads(kept[4:])) > 100
    assert cli(site) == first
    assert (site / STORE).read_bytes() == kept  # nothing missed the second time, nothing added


def test_no_store_is_written_where_python_writes_no_bytecode(tmp_path: Path) -> None:
    site = copy_of_the_package(tmp_path)
    cli(site, PYTHONDONTWRITEBYTECODE="1")
    assert not (site / STORE).exists()
    assert list((site / "tda").rglob("*.tmp")) == []
