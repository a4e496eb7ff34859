"""A worker's HTTP API (``ForwardToPrimary``) when its primary cannot be reached: what needs no
workflow is still served; what does gets a clear 502, never a hang or a stack trace."""

from __future__ import annotations

import asyncio
import socket

import httpx

from tda.http.app import create_app
from tda_local.forwarding import ForwardToPrimary


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port  # nothing listens here once the socket is closed


async def calls(app: ForwardToPrimary) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as client:
        return [
            await client.post("/v1/generate", json={"entity": "cart", "count": 3}),
            await client.post("/v1/generate", json={"entity": "nope", "count": 3}),
            await client.post(
                "/v1/generate",
                json={"entity": "cart", "count": 2, "context": "carts for a family moving house"},
            ),
            await client.get("/v1/jobs/job-abc"),
            await client.get("/health/live"),
            await client.get("/v1/schemas"),
        ]


def test_without_its_primary_a_worker_serves_the_fast_path_and_says_what_it_cannot() -> None:
    app = ForwardToPrimary(create_app(), f"http://127.0.0.1:{closed_port()}")
    fast, bad, model, job, live, schemas = asyncio.run(calls(app))
    assert fast.status_code == 200 and fast.json()["record_count"] == 3
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "entity"
    for relayed in (model, job):
        assert relayed.status_code == 502
        assert "the primary process is unreachable" in relayed.json()["error"]
    assert live.status_code == 200 and schemas.status_code == 200
