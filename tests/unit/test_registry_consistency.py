"""Guards on the shipped data: the layers' requirements match the package pins."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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
    # Nor the docs pages' assets: in Lambda they load from the CDNs (tda.http.docs).
    local_only |= {"fastapi-offline"}
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
    sdks = pins_in(ROOT / "layers" / "model-sdks.txt")
    assert {name: pin for name, pin in sdks.items() if name in llm_only} == {
        name: runtime[name] for name in llm_only
    }


def pins_in(requirements: Path) -> dict[str, str]:
    lines = [line.strip() for line in requirements.read_text().splitlines()]
    pins = [line for line in lines if line and not line.startswith("#")]
    return {canonicalize_name(re.split(r"[=\[]", pin)[0]): pin for pin in pins}


def closure(names: set[str]) -> set[str]:
    """The distributions ``names`` need, as installed here, on Lambda's Python (3.12, Linux)."""
    environment = {"python_version": "3.12", "python_full_version": "3.12.1"}
    environment |= {"sys_platform": "linux", "platform_system": "Linux", "extra": ""}
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for spec in metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                todo.append(canonicalize_name(requirement.name))
    return found


def test_the_model_sdks_layer_carries_what_the_core_layer_does_not_and_nothing_it_does() -> None:
    # Installed without their dependencies (pip resolving them shipped a second pydantic, of
    # another version, ahead of the core layer's): the layer must name every dependency the
    # core layer lacks, at the version the tests run with, and none the core layer has.
    core = closure(set(pins_in(ROOT / "layers" / "requirements.txt")))
    sdks = pins_in(ROOT / "layers" / "model-sdks.txt")
    assert set(sdks) & core == set()
    assert closure(set(sdks)) - core == set(sdks)
    assert all(
        pin == f"{pin.split('==')[0]}=={metadata.version(name)}" for name, pin in sdks.items()
    )
