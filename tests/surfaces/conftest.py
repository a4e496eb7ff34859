"""The gRPC shim, served once per test session (no workflow runtime: see tests/workflow)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from testdata.v1 import test_data_pb2_grpc as pb_grpc

from ..shim import running_shim
from .test_serve import Served


@pytest.fixture(scope="session")
def grpc_target() -> Iterator[str]:
    with running_shim() as target:
        yield target


@pytest.fixture(scope="session")
def stub(grpc_target: str) -> Iterator[pb_grpc.TestDataServiceStub]:
    channel = grpc.insecure_channel(grpc_target)
    yield pb_grpc.TestDataServiceStub(channel)
    channel.close()


SERVER_LOG_TAIL = 20_000  # characters: the traceback of an INTERNAL is near the end


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test that used a ``tda serve`` (tests/surfaces/test_serve.py's ``Served``) shows
    what that server logged: an "internal error (request …)" names a trace only the log has."""
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, Served):
                report.sections.append(("tda serve stderr", value.log()[-SERVER_LOG_TAIL:]))
    return report
