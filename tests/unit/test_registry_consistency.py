"""Guards on the shipped data: the layer's requirements match the package pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_layer_requirements_pin_the_same_versions_as_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = [
        line.strip()
        for line in (ROOT / "layers" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    runtime = {re.split("==", d)[0].lower(): d for d in project}
    runtime.pop("tqdm", None)  # the CLI's progress bar is not shipped to Lambda
    assert sorted(layer) == sorted(runtime.values())
