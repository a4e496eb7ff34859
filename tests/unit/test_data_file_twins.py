"""The layer's JSON twins of the data files (``layers/build_layer.py``): each reads back as its
YAML does, and where they are, the library reads them and never imports a YAML parser."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tda.domain.data_file import load_data_file, parse_yaml, twin_of

LAYERS = Path(__file__).resolve().parents[2] / "layers"
PACKAGE = LAYERS / "tda"
SOURCES = sorted(PACKAGE.rglob("*.yaml"))


def build_layer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_layer", LAYERS / "build_layer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(PACKAGE, site / "tda", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    written = build_layer().write_json_twins(site / "tda")
    assert len(written) == len(SOURCES) >= 12
    return site


def test_no_data_file_has_a_file_where_its_twin_goes() -> None:
    # The build writes the twins over whatever is there: nothing of ours may be.
    assert [twin_of(s) for s in SOURCES if twin_of(s).exists()] == []


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_each_twin_reads_back_as_its_yaml(built: Path, source: Path) -> None:
    copy = built / "tda" / source.relative_to(PACKAGE)
    assert twin_of(copy).is_file()
    assert load_data_file(copy) == parse_yaml(source)


def test_a_yaml_that_json_cannot_hold_is_refused(tmp_path: Path) -> None:
    (tmp_path / "prices.yaml").write_text("updated: 2026-12-03\n")  # a date, not a string
    with pytest.raises(SystemExit, match="no JSON twin can hold it"):
        build_layer().write_json_twins(tmp_path)
    assert not (tmp_path / "prices.json").exists()


def test_with_twins_a_request_is_served_without_a_yaml_parser(built: Path) -> None:
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1])\n"
        "from tda.app import operations\n"
        "from tda.domain.schema.registry import entity_names\n"
        "from tda.paths.llm.prompts import config, system_prompt\n"
        "from tda.paths.llm.accounting import price_table\n"
        "config(); system_prompt(); price_table()\n"
        "for entity in entity_names():\n"
        "    answer = operations.whole({'entity': entity, 'count': 3, 'seed': 1})\n"
        "    assert answer['record_count'] == 3, answer\n"
        "print(json.dumps({'yaml': 'yaml' in sys.modules, 'entities': entity_names()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(built)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {
        "yaml": False,
        "entities": ["cart", "order", "payment", "product", "review", "user"],
    }
