"""Shared helpers: build requests, run them through the public service, parse outputs back."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

import pytest

from tda import wiring
from tda.app.service import generate
from tda.domain.contract import GenerateRequest
from tda_local import scripted_model

# An OpenAI-compatible server for the whole session (the scripted one: no model, no network),
# so requests that want the LLM are served by the LLM path through the real openai SDK, here
# and in every server a test starts. Tests of "no model configured" unset it for themselves.
SCRIPTED_MODEL = scripted_model.start()
os.environ["LLM_BASE_URL"] = f"http://127.0.0.1:{SCRIPTED_MODEL.server_port}/v1"
os.environ.pop("ANTHROPIC_API_KEY", None)


def session_folder(prefix: str) -> str:
    """A temporary folder that lives as long as this test process (each xdist worker its own)."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


os.environ["TDA_CACHE_STORE"] = f"file://{session_folder('tda-test-cache-')}"
# An empty vector store of the session's own (never the user's ~/.tda): the rag tests seed one.
os.environ["VECTOR_STORE_URL"] = session_folder("tda-test-vectors-")

wiring.install()  # as every handler and the local runtime do at start-up

ENTITIES = ["cart", "order", "payment", "user", "review", "product"]


def make_request(**fields: Any) -> GenerateRequest:
    fields.setdefault("seed", 1234)
    return GenerateRequest.model_validate(fields)


def generate_records(**fields: Any) -> list[dict[str, Any]]:
    """GIVEN request fields WHEN generated as JSON THEN the parsed records."""
    fields["output_format"] = "JSON"
    response = generate(make_request(**fields))
    assert response.success
    records: list[dict[str, Any]] = json.loads(response.data)
    assert len(records) == response.record_count
    return records


def printed_in_a_fresh_interpreter(code: str, *args: str) -> Any:
    """The JSON that ``code`` prints last, run by a new Python (``sys.argv[1:]``: ``args``),
    as a process starts: nothing this test process imported or set up is there."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(params=ENTITIES)
def entity(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The shuffled order's seed, even under ``-q``: a failure that depends on order repeats
    with ``-p randomly --randomly-seed=N``."""
    seed = getattr(config.option, "randomly_seed", None)
    if seed is not None:
        terminalreporter.write_line(f"test order: -p randomly --randomly-seed={seed}")


MODEL_SETTINGS = ("LLM_BASE_URL", "LLM_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> Any:
    """No model configured (no key, no base URL), as on a machine that has none; the session's
    scripted model is back afterwards."""
    for name in MODEL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    wiring.install()
    yield
    monkeypatch.undo()
    wiring.install()


@pytest.fixture(autouse=True)
def own_vector_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """Each test an empty vector store of its own: a request that asks to learn writes to it
    (the hybrid path learns even from an empty store), and no test may see another's."""
    monkeypatch.setenv("VECTOR_STORE_URL", str(tmp_path_factory.mktemp("vectors")))
    yield
