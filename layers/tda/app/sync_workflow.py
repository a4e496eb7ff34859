"""Small requests on the model paths, through the Express workflow (DESIGN.md: Shape).

The router answers small traditional requests itself (the fast path); a request routed to llm,
rag or hybrid runs through the sync state machine (``SYNC_STATE_MACHINE_ARN``), where Retry and
Catch own retries and fallbacks. In AWS that is one ``StartSyncExecution`` call. moto has no
StartSyncExecution, so the local runtime sets ``TDA_SYNC_EXECUTION=poll``: start the execution
and wait for it — the same definition, the same result, the same history.

Step Functions caps a state's output at 256 KB. A task whose response is larger puts it in the
chunk store and returns a reference (``offload``); ``run`` reads it back and deletes it.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import orjson

from tda.adapters.chunk_stores import chunk_store
from tda.app.job_api import FINISHED

OFFLOAD_PREFIX = "responses"
SYNC_TIMEOUT_S = 300.0  # an Express workflow's own limit is 5 minutes
POLL_S = 0.01


class WorkflowUnavailableError(RuntimeError):
    """No execution could be started (none configured, throttled, unreachable): the router
    degrades to the traditional generator and says so."""


class WorkflowFailedError(RuntimeError):
    """The execution ran and failed: even the last fallback (traditional) did not answer."""


def run(payload: dict[str, Any]) -> dict[str, Any]:
    """The workflow's response to one request, with ``served_via`` and the execution's ARN."""
    arn = os.environ.get("SYNC_STATE_MACHINE_ARN", "")
    if not arn:
        raise WorkflowUnavailableError("SYNC_STATE_MACHINE_ARN is not set")
    body = orjson.dumps({"mode": "sync", "request": payload}).decode()
    try:
        import boto3  # only requests on the model paths need it; the fast path stays light

        client = boto3.client("stepfunctions")
        if os.environ.get("TDA_SYNC_EXECUTION") == "poll":
            result = _start_and_wait(client, arn, body)
        else:
            result = client.start_sync_execution(stateMachineArn=arn, input=body)
    except Exception as exc:  # botocore's errors, a missing region or credentials...
        raise WorkflowUnavailableError(f"{type(exc).__name__}: {exc}") from exc
    if result["status"] != "SUCCEEDED":
        raise WorkflowFailedError(
            f"execution {result.get('executionArn')} {result['status']}: "
            f"{result.get('error', '')} {result.get('cause', '')}".strip()
        )
    response: dict[str, Any] = _inline(orjson.loads(result["output"]))
    response["metadata"]["served_via"] = "workflow"
    response["metadata"]["execution_arn"] = result.get("executionArn", "")
    return response


def _start_and_wait(client: Any, arn: str, body: str) -> dict[str, Any]:
    started = client.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex, input=body)
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    while True:
        described: dict[str, Any] = client.describe_execution(executionArn=started["executionArn"])
        if described["status"] in FINISHED:
            return described
        if time.monotonic() > deadline:
            client.stop_execution(executionArn=started["executionArn"], cause="sync timeout")
            return {**described, "status": "TIMED_OUT"}
        time.sleep(POLL_S)


def offload(response: dict[str, Any], max_inline_bytes: int) -> dict[str, Any]:
    """``response`` itself if its JSON fits in ``max_inline_bytes``, else a chunk-store reference."""
    data = orjson.dumps(response)
    if len(data) <= max_inline_bytes:
        return response
    key = f"{OFFLOAD_PREFIX}/{uuid.uuid4().hex}.json"
    chunk_store().put(key, data)
    return {
        "request_id": response.get("request_id", ""),
        "record_count": response.get("record_count", 0),
        "offloaded": key,
        "bytes": len(data),
    }


def _inline(output: dict[str, Any]) -> dict[str, Any]:
    key = output.get("offloaded")
    if not isinstance(key, str):
        return output
    store = chunk_store()
    response: dict[str, Any] = orjson.loads(store.get(key))
    store.delete(key)  # read once: the response is the caller's now
    return response
