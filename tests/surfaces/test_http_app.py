"""The HTTP app's own seams: dependencies before every route (where auth and rate limits go),
readiness from the serving process's drain, one map from errors to statuses."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import Depends, HTTPException, Request

from tda.http.app import create_app


def require_key(request: Request) -> None:
    if request.headers.get("x-api-key") != "sesame":
        raise HTTPException(status_code=401, detail="no key")


async def get_all(app: object, headers: dict[str, str]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return [
            await client.post("/v1/generate", json={"entity": "cart", "count": 2}, headers=headers),
            await client.get("/v1/schemas", headers=headers),
            await client.get("/v1/jobs/job-x", headers=headers),
            await client.get("/health/ready", headers=headers),
        ]


def test_a_dependency_guards_every_route() -> None:
    app = create_app(dependencies=[Depends(require_key)])
    refused = asyncio.run(get_all(app, {}))
    assert [r.status_code for r in refused] == [401, 401, 401, 401]
    allowed = asyncio.run(get_all(app, {"x-api-key": "sesame"}))
    generated, schemas, job, ready = allowed
    assert generated.status_code == 200 and generated.json()["record_count"] == 2
    assert schemas.status_code == 200 and ready.status_code == 200
    assert job.status_code == 404 and job.json()["success"] is False


def test_readiness_follows_the_apps_own_drain() -> None:
    stopping = [False]
    app = create_app(draining=lambda: stopping[0])
    assert asyncio.run(get_all(app, {}))[3].status_code == 200
    stopping[0] = True
    ready = asyncio.run(get_all(app, {}))[3]
    assert ready.status_code == 503 and ready.json()["status"] == "draining"
    assert asyncio.run(get_all(create_app(), {}))[3].status_code == 200  # another app: not
