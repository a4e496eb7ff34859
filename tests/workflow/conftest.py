"""One local workflow runtime per test module (moto's interpreter, the real handlers), over a
chunk store in a temporary folder. A module sets extra environment by overriding
``workflow_env``, and opts into a clean slate per test with ``usefixtures("fresh_calls")``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tda_local.workflows import LocalWorkflows
from testdata.v1 import test_data_pb2_grpc as pb_grpc

from ..llm.scripted import openai_model
from ..shim import running_shim

__all__ = ["openai_model"]  # the model paths on a scripted model


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chunks")


@pytest.fixture(scope="module")
def workflow_env() -> dict[str, str]:
    return {}


@pytest.fixture(scope="module")
def workflows(store: Path, workflow_env: dict[str, str]) -> Iterator[LocalWorkflows]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TDA_CHUNK_STORE", f"file://{store}")
        for name, value in workflow_env.items():
            patch.setenv(name, value)
        # Retry waits of 1 s, not 1-4 s; each invocation recorded in ``calls``.
        with LocalWorkflows(retry_interval=1, record_calls=True) as runtime:
            yield runtime


@pytest.fixture
def fresh_calls(workflows: LocalWorkflows) -> Iterator[None]:
    """No calls recorded and no faults armed from an earlier test."""
    workflows.calls.clear()
    workflows.faults.clear()
    yield
    workflows.faults.clear()


@pytest.fixture(scope="module")
def stub(workflows: LocalWorkflows) -> Iterator[pb_grpc.TestDataServiceStub]:
    """The gRPC shim, in this process, on the module's runtime."""
    with running_shim() as target, grpc.insecure_channel(target) as channel:
        yield pb_grpc.TestDataServiceStub(channel)
