"""A locale's value pools are built from Faker at its first request (0.15–0.85 s of CPU; 19
ship as files, and a build is kept for the processes after). That first request was taken as a small one and answered on its transport's
event loop: every other call on that transport waited for the build, and a caller asking in
110 locales at once held a 10-cart request for 4.7 s (median). Now it is heavy work, on a
thread, and admitted by what the build costs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from tda.app import operations
from tda.app.service import route_here
from tda.domain.contract import GenerateRequest
from tda.http.app import create_app
from tda.paths.traditional import pools
from tda_local.grpc_server import build_server
from tda_local.serve import _http_socket, _Running
from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc


class HeldBuild:
    """``pools.build_pool_data`` held until released: a build as long as the test likes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.begun = threading.Event()
        self.release = threading.Event()
        real = pools.build_pool_data

        self.builds: list[str] = []

        def held(locale: str) -> dict[str, Any]:
            self.builds.append(locale)
            self.begun.set()
            self.release.wait(30)  # before the fix, the test's own loop waited this out
            return real(locale)

        monkeypatch.setattr(pools, "build_pool_data", held)


@pytest.fixture
def held_build(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldBuild]:
    held = HeldBuild(monkeypatch)
    try:
        yield held
    finally:
        held.release.set()  # never leave a server's thread waiting


async def _served(held: HeldBuild, transport: str, locale: str) -> tuple[int, int]:
    """Over ``transport``: a request in an unbuilt ``locale``, held in its build; meanwhile a
    cheap request on the same transport. The second's record count, then the first's."""
    grpc_server, port, checker = build_server(0)
    http_socket = _http_socket("127.0.0.1", 0, reuse_port=False)
    running = await _Running.start(grpc_server, checker, create_app(), [http_socket])
    base = f"http://127.0.0.1:{http_socket.getsockname()[1]}"
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
            httpx.AsyncClient(base_url=base, timeout=120) as client,
        ):
            stub = pb_grpc.TestDataServiceStub(channel)

            async def ask(count: int, locale: str = "en_US", timeout: float = 120) -> int:
                if transport == "grpc":
                    request = pb.GenerateRequest(entity="user", count=count, locale=locale)
                    return int((await stub.GenerateData(request, timeout=timeout)).record_count)
                body = {"entity": "user", "count": count, "locale": locale}
                answer = await client.post("/v1/generate", json=body, timeout=timeout)
                return int(answer.json()["record_count"])

            first = asyncio.ensure_future(ask(2, locale))
            assert await asyncio.to_thread(held.begun.wait, 30), "the locale was built already"
            # A liveness bound, not a timing: held on its loop, this call waited for the build,
            # which waits for the test (up to 30 s).
            other = await ask(3, timeout=20)
            still_building = not first.done()
            held.release.set()
            assert still_building
            return other, await first
    finally:
        held.release.set()
        await running.stop()


def unbuilt(monkeypatch: pytest.MonkeyPatch, locale: str) -> str:
    """``locale`` as if no request had asked for it yet, in this process or any before it
    (tests that run before build every locale, and keep what they built)."""
    monkeypatch.delitem(pools._built, locale, raising=False)
    monkeypatch.setattr(pools, "_keeping", None)
    return locale


@pytest.mark.parametrize(("transport", "locale"), [("grpc", "fil_PH"), ("http", "hy_AM")])
def test_a_locale_built_for_its_first_request_holds_up_no_other_call(
    held_build: HeldBuild, monkeypatch: pytest.MonkeyPatch, transport: str, locale: str
) -> None:
    unbuilt(monkeypatch, locale)
    assert asyncio.run(_served(held_build, transport, locale)) == (3, 2)


def test_a_locale_not_yet_built_is_heavy_work_costed_at_its_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = GenerateRequest(entity="user", count=2, locale=unbuilt(monkeypatch, "ka_GE"))
    decision = route_here(request)
    assert not operations.answers_inline(request, decision)
    placed = operations.placement(request, decision)
    assert placed.where == "heavy" and placed.seconds >= pools.LOCALE_BUILD_SECONDS
    pools.pools_for("ka_GE")  # built: as cheap as any other locale from now on
    assert operations.answers_inline(request, decision)
    english = operations.placement(GenerateRequest(entity="user", count=2), decision)
    assert operations.placement(request, decision) == english


def test_a_locale_asked_for_by_many_at_once_is_built_once(
    held_build: HeldBuild, monkeypatch: pytest.MonkeyPatch
) -> None:
    locale = unbuilt(monkeypatch, "lv_LV")
    found: list[pools.Pools] = []
    together = threading.Barrier(4)

    def ask() -> None:
        together.wait(30)  # all four ask at once, before the first build is let go
        found.append(pools.pools_for(locale))

    askers = [threading.Thread(target=ask) for _ in range(4)]
    for asker in askers:
        asker.start()
    assert held_build.begun.wait(30)
    held_build.release.set()
    for asker in askers:
        asker.join(60)
    assert held_build.builds == [locale]  # @functools.cache built it once per asker
    assert len(found) == 4 and all(p is found[0] for p in found)
