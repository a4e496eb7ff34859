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
    runtime = {re.split(r"[=\[]", d)[0].lower(): d for d in project}
    # The CLI's progress bar, the local HTTP server (and its workers' relay), the gRPC shim and
    # the local Step Functions runtime are not shipped to Lambda.
    local_only = {"tqdm", "uvicorn", "httpx", "grpcio", "grpcio-reflection"}
    local_only |= {"grpcio-health-checking", "grpcio-status", "protobuf", "moto"}
    # The model SDKs (and the cache's Redis client) ship with the functions that call models.
    llm_only = {"anthropic", "openai", "httpx2", "redis"}
    # The memory's ship in the rag/hybrid image (functions/memory-requirements.txt).
    memory_only = {"lancedb", "pyarrow", "onnxruntime", "tokenizers", "cryptography"}
    shipped = [d for name, d in runtime.items() if name not in local_only | llm_only | memory_only]
    assert sorted(layer) == sorted(shipped)
    image = [
        line.strip()
        for line in (ROOT / "functions" / "memory-requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert all(pin == runtime[re.split(r"[=\[]", pin)[0].lower()] for pin in image)
    assert {re.split(r"[=\[]", pin)[0].lower() for pin in image} >= memory_only
    for function in ("llm", "jobs"):  # jobs: a catalog-mode job's plan step asks the model
        pins = [
            line.strip()
            for line in (ROOT / "functions" / function / "requirements.txt")
            .read_text()
            .splitlines()
            if line.strip() and not line.startswith("#")
        ]
        assert sorted(pins) == sorted(runtime[name] for name in llm_only)
