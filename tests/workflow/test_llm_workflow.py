"""The llm path through the real ASL (moto's interpreter, the real handlers, the real SDKs over
a scripted transport): Anthropic first, the OpenAI-compatible server when Anthropic fails, then
traditional — each failure named in the response; and a catalog-mode job whose chunks all read
the one catalog its plan step had the model write."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tda import wiring
from tda_local.workflows import LocalWorkflows

from ..llm.scripted import Transport, scripted_client, status

pytestmark = pytest.mark.usefixtures("fresh_calls")

FITNESS = "carts for people training for their first marathon"


@pytest.fixture
def both_models(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Transport]:
    transport = Transport()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("CLAUDE_MODEL", f"claude-{request.node.name}")
    monkeypatch.setenv("LLM_BASE_URL", "http://model.test/v1")
    monkeypatch.setenv("LLM_MODEL", f"open-{request.node.name}")
    wiring.install(model_http_client=scripted_client(transport))
    yield transport
    monkeypatch.undo()
    wiring.install()


def sync(workflows: LocalWorkflows, request: dict[str, Any]) -> dict[str, Any]:
    done = workflows.run("SyncStateMachine", {"mode": "sync", "request": request})
    assert done["status"] == "SUCCEEDED", done
    return dict(json.loads(done["output"]))


def test_anthropic_serves_when_it_answers(
    workflows: LocalWorkflows, both_models: Transport
) -> None:
    response = sync(workflows, {"entity": "cart", "count": 3, "seed": 1, "context": FITNESS})
    meta = response["metadata"]
    assert (meta["generation_path"], meta["fallback_reason"]) == ("llm", "")
    assert meta["llm"]["provider"] == "anthropic"
    assert [name for name, _ in workflows.calls] == ["RouterFunction", "LlmFunction"]


def test_a_refused_anthropic_key_falls_back_to_the_openai_compatible_server(
    workflows: LocalWorkflows, both_models: Transport
) -> None:
    both_models.then(status(401))
    response = sync(workflows, {"entity": "cart", "count": 3, "seed": 1, "context": FITNESS})
    meta = response["metadata"]
    assert meta["generation_path"] == "llm" and meta["llm"]["provider"] == "openai"
    assert meta["fallback_reason"].startswith("llm failed (LLMAuthError")
    assert meta["fallback_reason"].endswith("served by llm (openai)")
    # an auth error is not retried: one Anthropic call, one OpenAI-compatible call
    assert [name for name, _ in workflows.calls] == ["RouterFunction", "LlmFunction", "LlmFunction"]
    assert both_models.calls == 2


def test_both_providers_down_fall_back_to_traditional(
    workflows: LocalWorkflows, both_models: Transport
) -> None:
    both_models.then(status(401), status(401))
    response = sync(workflows, {"entity": "review", "count": 2, "context": "reviews of mugs"})
    meta = response["metadata"]
    assert meta["generation_path"] == "traditional"
    assert "llm failed (LLMAuthError" in meta["fallback_reason"]
    assert "llm_openai failed (LLMAuthError" in meta["fallback_reason"]
    assert meta["fallback_reason"].endswith("served by traditional generation")
    assert meta["llm"] is None and both_models.calls == 2


def test_a_catalog_mode_job_writes_the_catalog_once_and_every_chunk_reads_it(
    workflows: LocalWorkflows, both_models: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOB_CHUNK_RECORDS", "1000")
    request = {
        "entity": "cart",
        "count": 5000,
        "seed": 6,
        "context": FITNESS,
        "output_format": "NDJSON",
    }
    done = workflows.run(
        "JobStateMachine", {"mode": "job", "job_id": "job-cat", "request": request}
    )
    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert both_models.calls == 1  # the plan step wrote the catalog; the 5 chunks read it
    output = json.loads(done["output"])
    assert output["chunks"] == 5
