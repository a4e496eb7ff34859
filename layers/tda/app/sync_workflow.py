"""Small requests on the model paths, through the Express workflow (DESIGN.md: Shape).

The router answers small traditional requests itself (the fast path); a request routed to llm,
rag or hybrid runs through the sync state machine (``SYNC_STATE_MACHINE_ARN``), where Retry and
Catch own retries and fallbacks: one ``StartSyncExecution`` call (locally too, where the local
runtime answers it: ``tda_local.workflows``).

Step Functions caps a state's output at 256 KB. A task whose response is larger puts it in the
chunk store and returns a reference (``offload``); ``run`` reads it back and deletes it.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import orjson

from tda.app.ports_in_use import chunk_store, workflow
from tda.app.settings import sync_state_machine
from tda.domain.errors import InvalidRequestError, TdaError
from tda.ports.chunk_store import ChunkStoreUnavailableError

OFFLOAD_PREFIX = "responses"
# Step Functions caps an execution's input, and every state's data, at 256 KB. What a request
# brings is checked against it, less room for what the states add (the routing, the fallbacks'
# reasons, a job's chunk list), before an execution is started: past it, none could start.
EXECUTION_INPUT_BYTES = 256 * 1024
STATE_ROOM_BYTES = 16 * 1024


class WorkflowUnavailableError(TdaError, RuntimeError):
    """No execution could be started (none configured, throttled, unreachable): the router
    degrades to the traditional generator and says so."""


class WorkflowFailedError(TdaError, RuntimeError):
    """The execution ran and failed: even the last fallback (traditional) did not answer."""


def check_input_size(size: int, what: str) -> None:
    """InvalidRequestError (422) when ``size`` bytes of input leave the states too little room."""
    if size > EXECUTION_INPUT_BYTES - STATE_ROOM_BYTES:
        raise InvalidRequestError.single(
            "request",
            f"{size:,} bytes as {what}'s workflow input: Step Functions takes at most "
            f"{EXECUTION_INPUT_BYTES:,}, and its states need {STATE_ROOM_BYTES:,} of them; "
            "send a smaller schema, context or scenarios",
        )


def run(payload: dict[str, Any]) -> dict[str, Any]:
    """The workflow's response to one request, with ``served_via`` and the execution's ARN."""
    arn = sync_state_machine()
    if not arn:
        raise WorkflowUnavailableError("SYNC_STATE_MACHINE_ARN is not set")
    body = orjson.dumps({"mode": "sync", "request": payload}).decode()
    check_input_size(len(body), "a synchronous request on a model path")
    try:
        result = workflow().run_sync(arn, body)
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
    # Read once: the response is the caller's now, whether or not it could be removed (the
    # bucket's lifecycle rule removes what is left).
    with contextlib.suppress(ChunkStoreUnavailableError):
        store.delete(key)
    return response
