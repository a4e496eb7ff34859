"""The HTTP app's own seams: dependencies before every route (where auth and rate limits go),
readiness from the serving process's drain, one map from errors to statuses."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys

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


def test_fastapis_openapi_models_are_built_when_the_document_is_asked_for() -> None:
    # A fresh process, as a cold start: importing the app builds none of FastAPI's OpenAPI
    # models (≈95 ms of the api function's import); the first document builds them, whole.
    code = """
import json
from tda.http.app import create_app
from fastapi.openapi import models
from pydantic._internal._config import config_defaults
at_import = models.OpenAPI.__pydantic_complete__
spec = create_app().openapi()
print(json.dumps([at_import, models.OpenAPI.__pydantic_complete__, config_defaults["defer_build"],
                  sorted(spec["paths"])]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    deferred, built_after, default_after, paths = json.loads(done.stdout)
    assert deferred is False and built_after is True
    assert default_after is False  # pydantic's own default left as it was
    assert "/v1/generate" in paths and "/v1/jobs/{job_id}/chunks/{index}" in paths


def test_serving_does_not_import_pydantic_v1_and_a_v1_model_is_still_refused() -> None:
    # FastAPI imported pydantic.v1 (≈38 ms of a cold start) to learn that no model was v1's.
    code = """
import json, sys
import httpx, asyncio
from tda.http.app import create_app
async def ask():
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.post("/v1/generate", json={"entity": "cart", "count": 2, "seed": 1})
        return answer.status_code
status = asyncio.run(ask())
imported = "pydantic.v1" in sys.modules
from fastapi import APIRouter
from fastapi.exceptions import FastAPIError
from pydantic import v1
class Old(v1.BaseModel):
    name: str
try:
    APIRouter().get("/old", response_model=Old)(lambda: None)
    refused = False
except FastAPIError as exc:
    refused = "no longer supported" in str(exc)
print(json.dumps([status, imported, refused]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == [200, False, True]


async def _answers(requests: list[tuple[str, str, object]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return [await client.request(m, path, json=body) for m, path, body in requests]


def test_an_error_names_the_request_it_answers_however_its_id_was_spelled() -> None:
    # The success path read proto3 JSON's camelCase requestId; the error path read only
    # request_id, echoed a non-string id as Python's repr ("{'a': 1}"), a malformed job id
    # back as the request's, and a missing job without any request_id at all.
    answers = asyncio.run(
        _answers(
            [
                ("POST", "/v1/generate", {"requestId": "camel-9", "entity": "nope", "count": 1}),
                ("POST", "/v1/jobs", {"requestId": "camel-8", "entity": "nope", "count": 1}),
                ("POST", "/v1/generate", {"request_id": "snake-7", "entity": "nope", "count": 1}),
                ("POST", "/v1/generate", {"request_id": {"a": 1}, "entity": "cart", "count": 1}),
                ("GET", "/v1/jobs/job-never-made", None),
                ("GET", "/v1/jobs/job-never-made/chunks/0", None),
                ("GET", "/v1/jobs/bad%00id", None),
                ("DELETE", "/v1/jobs/job-never-made%0A", None),
            ]
        )
    )
    statuses = [a.status_code for a in answers]
    assert statuses == [422, 422, 422, 422, 404, 404, 422, 422]  # a newline ends no job id
    ids = [a.json()["request_id"] for a in answers]
    assert ids == ["camel-9", "camel-8", "snake-7", "", "job-never-made", "job-never-made", "", ""]
    assert answers[3].json()["details"][0]["field"] == "request_id"


def test_the_docs_pages_load_nothing_from_another_host() -> None:
    """/docs and /redoc loaded Swagger UI and ReDoc (and Google's fonts) from CDNs: a blank
    page on a machine without the internet. Their assets are served here now."""
    pages = asyncio.run(_answers([("GET", "/docs", None), ("GET", "/redoc", None)]))
    linked: set[str] = set()
    for page in pages:
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        urls = set(
            re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", page.text)
        )
        found = {a or b for a, b in urls}
        assert found and not [u for u in found if "//" in u], found
        linked |= found
    assert {"/openapi.json", "/docs/swagger-ui-bundle.js", "/docs/redoc.standalone.js"} <= linked
    assets = asyncio.run(_answers([("GET", url, None) for url in sorted(linked)]))
    for url, asset in zip(sorted(linked), assets, strict=True):
        assert asset.status_code == 200 and len(asset.content) > 100, url
    kinds = {
        u: a.headers["content-type"].split(";")[0]
        for u, a in zip(sorted(linked), assets, strict=True)
    }
    assert kinds["/docs/swagger-ui.css"] == "text/css"
    assert kinds["/docs/swagger-ui-bundle.js"] == "text/javascript"
    # Only the assets: nothing else of the package's folder, nor beside it.
    strays = ["/docs/__init__.py", "/docs/..%2F__init__.py", "/docs/%2E%2E/core.py", "/docs/x.js"]
    refused = asyncio.run(_answers([("GET", url, None) for url in strays]))
    assert [r.status_code for r in refused] == [404] * len(strays)
    assert all(r.json()["success"] is False for r in refused)
