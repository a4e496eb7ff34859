"""The gRPC shim, served once per test session (no workflow runtime: see tests/workflow)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from testdata.v1 import test_data_pb2_grpc as pb_grpc

from ..shim import running_shim


@pytest.fixture(scope="session")
def grpc_target() -> Iterator[str]:
    with running_shim() as target:
        yield target


@pytest.fixture(scope="session")
def stub(grpc_target: str) -> Iterator[pb_grpc.TestDataServiceStub]:
    channel = grpc.insecure_channel(grpc_target)
    yield pb_grpc.TestDataServiceStub(channel)
    channel.close()
