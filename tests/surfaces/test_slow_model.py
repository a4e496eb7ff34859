"""A slow model must not slow anything else: requests waiting on the LLM path wait on a pool
of their own, so job calls and other requests answered by `tda serve` meanwhile do not queue
behind them (ordering, not timing: the job call returns before any model request does)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tda_local import scripted_model

from .test_serve import Served

MODEL_REQUESTS = 8  # more than the default executor's threads on 2 cores (6)


@pytest.fixture(scope="module")
def slow_served() -> Iterator[Served]:
    slow = scripted_model.start(seconds_per_token=0.01)  # ~2-4 s an answer
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_BASE_URL", f"http://127.0.0.1:{slow.server_port}/v1")
        server = Served()
    yield server
    server.stop()
    slow.shutdown()


def test_job_calls_answer_while_model_requests_wait(slow_served: Served) -> None:
    finished: list[str] = []
    reasons: list[str] = []
    lock = threading.Lock()
    api = f"http://127.0.0.1:{slow_served.http_port}"

    def model_request(k: int) -> None:
        body: dict[str, Any] = {"entity": "review", "count": 5, "seed": k}
        body["context"] = f"reviews of kettles, batch {k}"
        response = httpx.post(f"{api}/v1/generate", json=body, timeout=120)
        answer = response.json()
        assert "metadata" in answer, (response.status_code, response.text[:2000])
        with lock:
            finished.append(f"model:{answer['metadata']['generation_path']}")
            reasons.append(answer["metadata"]["fallback_reason"])

    threads = [threading.Thread(target=model_request, args=(k,)) for k in range(MODEL_REQUESTS)]
    for thread in threads:
        thread.start()
    started = threading.Event()
    started.wait(1.0)  # let the model requests reach the server and wait on the model
    assert httpx.get(f"{api}/v1/jobs/job-none", timeout=120).status_code == 404
    submitted = httpx.post(
        f"{api}/v1/jobs", json={"entity": "cart", "count": 10, "seed": 1}, timeout=120
    )
    assert submitted.status_code == 202
    with lock:
        finished.append("jobs")
    for thread in threads:
        thread.join(120)
    assert finished[0] == "jobs", finished
    assert len(finished) == MODEL_REQUESTS + 1  # every model request answered
    # The scripted model answers one call at a time: those still waiting when the request's
    # budget (SYNC_BUDGET_SECONDS, under the HTTP API's 30 s) runs out are served by
    # traditional generation, saying so.
    assert finished.count("model:llm") >= 1
    for path, reason in zip(finished[1:], reasons, strict=True):
        assert path == "model:llm" or "past the request's deadline" in reason, reason
