"""The layer's JSON twins of the data files (``layers/build_layer.py``): each reads back as its
YAML does, and where they are, the library reads them and never imports a YAML parser. Where
no build wrote twins (a checkout: the CLI, ``tda serve``), a YAML is parsed once and read from
its copy in ``__pycache__`` while that copy is current."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tda.domain.data_file import cached_copy_of, load_data_file, parse_yaml, twin_of

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


@pytest.fixture(autouse=True)
def writing_beside_the_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """As Python runs by default (this machine's environment sets PYTHONDONTWRITEBYTECODE)."""
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)


def loaded_in_a_fresh_process(path: Path, **env: str) -> tuple[Any, bool]:
    """What ``load_data_file`` reads, and whether it imported a YAML parser to read it."""
    code = (
        "import json, sys; from pathlib import Path\n"
        "from tda.domain.data_file import load_data_file\n"
        "data = load_data_file(Path(sys.argv[1]))\n"
        "print(json.dumps([data, 'yaml' in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data, parsed = json.loads(done.stdout)
    return data, parsed


def test_a_checkouts_yaml_is_parsed_once_then_read_from_its_cached_copy(tmp_path: Path) -> None:
    source = PACKAGE / "data" / "catalog.yaml"
    copy = tmp_path / source.name
    shutil.copy2(source, copy)
    first = loaded_in_a_fresh_process(copy)
    assert first == (parse_yaml(source), True)
    assert cached_copy_of(copy).is_file()
    assert loaded_in_a_fresh_process(copy) == (first[0], False)  # no YAML parser this time
    assert [p.name for p in cached_copy_of(copy).parent.iterdir()] == ["catalog.yaml.json"]


def test_a_changed_yaml_is_read_again_never_its_stale_copy(tmp_path: Path) -> None:
    data = tmp_path / "limits.yaml"
    data.write_text("rows: 1\n")
    assert load_data_file(data) == {"rows": 1}
    data.write_text("rows: 22\n")  # another size
    assert load_data_file(data) == {"rows": 22}
    data.write_text("rows: 33\n")  # the same size, a later time
    stat = data.stat()
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert load_data_file(data) == {"rows": 33}
    assert loaded_in_a_fresh_process(data) == ({"rows": 33}, False)


def test_a_broken_or_impossible_copy_only_means_parsing(tmp_path: Path) -> None:
    data = tmp_path / "limits.yaml"
    data.write_text("rows: 1\n")
    load_data_file(data)
    cached_copy_of(data).write_bytes(b"\xff\xfe not a copy")  # torn or foreign
    assert loaded_in_a_fresh_process(data) == ({"rows": 1}, True)
    assert loaded_in_a_fresh_process(data) == ({"rows": 1}, False)  # written again
    dated = tmp_path / "dated.yaml"
    dated.write_text("updated: 2026-12-03\n")  # a date: JSON cannot hold it
    assert load_data_file(dated) == {"updated": datetime.date(2026, 12, 3)}
    assert not cached_copy_of(dated).exists()
    unwritable = tmp_path / "ro"
    unwritable.mkdir()
    (unwritable / "__pycache__").write_text("a file where the folder would go")
    (unwritable / "limits.yaml").write_text("rows: 5\n")
    assert load_data_file(unwritable / "limits.yaml") == {"rows": 5}
    assert sorted(p.name for p in unwritable.iterdir()) == ["__pycache__", "limits.yaml"]


def test_where_python_may_not_write_bytecode_no_copy_is_written_either(tmp_path: Path) -> None:
    data = tmp_path / "limits.yaml"
    data.write_text("rows: 1\n")
    for _ in range(2):
        assert loaded_in_a_fresh_process(data, PYTHONDONTWRITEBYTECODE="1") == ({"rows": 1}, True)
    assert [p.name for p in tmp_path.iterdir()] == ["limits.yaml"]


def test_a_copy_made_by_another_way_of_reading_yaml_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tda.domain import data_file

    data = tmp_path / "limits.yaml"
    data.write_text("rows: 1\n")
    load_data_file(data)
    made_by = cached_copy_of(data).read_bytes().split(b"\n", 1)[0]
    monkeypatch.setattr(data_file, "CACHE_FORMAT", data_file.CACHE_FORMAT + 1)
    cached_copy_of(data).write_bytes(made_by + b'\n{"rows": "stale"}')  # the old way's copy
    assert load_data_file(data) == {"rows": 1}
    assert cached_copy_of(data).read_bytes().split(b"\n", 1)[0] != made_by
