"""The one seam: a path plugged into the registry serves, and the metadata says what served.

The generators here are stand-ins for the model paths to come: they make their records with the
traditional generator and call them their own, which is all the seam needs to know.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tda import wiring
from tda.app import operations, ports_in_use
from tda.app.service import generate
from tda.domain.contract import GenerateRequest
from tda.domain.errors import GeneratedInvalidRecordError
from tda.domain.plan import GenerationPlan
from tda.domain.routing import GenerationPath
from tda.paths import registry
from tda.paths.base import PathResult
from tda.paths.traditional.generator import TraditionalGenerator

# Routed to llm: a text-heavy entity with a context (tda.domain.routing).
ROUTED_TO_LLM = {
    "entity": "review",
    "count": 6,
    "seed": 3,
    "context": "Reviews of wireless headphones, mixed opinions, some about battery life",
}


class StandInModel:
    """A path that serves, or says why it cannot."""

    path = GenerationPath.LLM

    def __init__(self, reason: str | None = None, corrupt: bool = False) -> None:
        self.reason = reason
        self.corrupt = corrupt
        self.calls = 0

    def unavailable_reason(self) -> str | None:
        return self.reason

    def generate(self, plan: GenerationPlan, *, warm: bool) -> PathResult:
        self.calls += 1
        made = TraditionalGenerator().generate(plan, warm=False)
        records = [dict(r) for r in made.records]
        if self.corrupt:
            records[2]["rating"] = "five stars"  # what a model might write
        return replace(made, served_by=self.path, records=records, tokens=1234)


@pytest.fixture
def llm_slot() -> Iterator[None]:
    yield
    wiring.install()  # the llm generator as built


def test_a_registered_path_serves_and_the_metadata_names_it(llm_slot: None) -> None:
    model = StandInModel()
    registry.register(GenerationPath.LLM, lambda: model)
    response = generate(GenerateRequest.model_validate(ROUTED_TO_LLM))
    meta = response.metadata
    assert model.calls == 1
    assert (meta.generation_path, meta.routed_path, meta.fallback_reason) == ("llm", "llm", "")
    assert meta.records_validated == 6 and len(json.loads(response.data)) == 6


def test_a_path_that_cannot_serve_says_why_and_traditional_serves(llm_slot: None) -> None:
    model = StandInModel(reason="is not configured: no ANTHROPIC_API_KEY")
    registry.register(GenerationPath.LLM, lambda: model)
    meta = generate(GenerateRequest.model_validate(ROUTED_TO_LLM)).metadata
    assert model.calls == 0
    # The router knows: a path that cannot serve is not chosen, and the reason says why.
    assert (meta.generation_path, meta.routed_path) == ("traditional", "traditional")
    assert "llm not configured: the llm path is not configured: no ANTHROPIC" in (
        meta.routing_reason
    )
    assert meta.fallback_reason == ""
    health = operations.health()["components"]
    assert health["llm"].startswith("unavailable: the llm path is not configured: no ANTHROPIC")
    assert health["traditional"] == "ok"


def test_no_path_hands_back_a_record_that_breaks_its_schema(llm_slot: None) -> None:
    registry.register(GenerationPath.LLM, lambda: StandInModel(corrupt=True))
    with pytest.raises(GeneratedInvalidRecordError, match="rating"):
        generate(GenerateRequest.model_validate(ROUTED_TO_LLM))


def test_as_built_with_no_model_the_router_does_not_pick_llm(no_model: None) -> None:
    meta = generate(GenerateRequest.model_validate(ROUTED_TO_LLM)).metadata
    assert meta.generation_path == "traditional" and meta.routed_path == "traditional"
    assert "llm not configured" in meta.routing_reason and "LLM_BASE_URL" in meta.routing_reason
    assert set(registry.availability()) == set(GenerationPath)
    rag = generate(GenerateRequest(entity="cart", count=2, learn_from_history=True)).metadata
    # The session's store is empty: the rag path says so, and traditional generation serves.
    assert rag.generation_path == "traditional"
    assert (
        "patterns collection empty" in rag.fallback_reason and "tda rag seed" in rag.fallback_reason
    )


def test_what_served_and_each_fallback_is_counted_through_the_metrics_port() -> None:
    from tda.ports.metrics import InMemoryMetrics

    counted = InMemoryMetrics()
    real = ports_in_use.installed()
    ports_in_use.install(replace(real, metrics=counted))
    try:
        generate(GenerateRequest.model_validate(ROUTED_TO_LLM))
        generate(GenerateRequest(entity="cart", count=4, seed=1))
        generate(GenerateRequest(entity="cart", count=3, seed=1, learn_from_history=True))
    finally:
        ports_in_use.install(real)
    assert counted.counts == {"RecordsLlm": 6, "RecordsTraditional": 7, "FallbackRag": 1}


def test_the_emf_adapter_writes_the_use_cases_counts_and_the_handlers_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from tda.adapters.emf_metrics import EmfMetrics

    monkeypatch.delenv("METRICS_DISABLED", raising=False)
    out = io.StringIO()
    metrics = EmfMetrics("TestDataAgent", "test-data-agent", out)

    @metrics.log_metrics
    def handler() -> str:
        generate(GenerateRequest(entity="cart", count=4, seed=1))  # counted through the port
        metrics.count("RecordsGenerated", 4)  # counted by the handler
        return "served"

    real = ports_in_use.installed()
    ports_in_use.install(replace(real, metrics=metrics))
    try:
        assert handler() == "served"
        assert handler() == "served"
    finally:
        ports_in_use.install(real)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    directive = first["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "TestDataAgent" and directive["Dimensions"] == [["service"]]
    assert [m["Name"] for m in directive["Metrics"]] == ["RecordsGenerated", "RecordsTraditional"]
    assert {m["Unit"] for m in directive["Metrics"]} == {"Count"}
    assert first["service"] == "test-data-agent"
    assert (first["RecordsGenerated"], first["RecordsTraditional"]) == (4, 4)
    # Each invocation's own counts: the first line's were flushed, not carried on.
    assert (second["RecordsGenerated"], second["RecordsTraditional"]) == (4, 4)


def test_the_emf_adapter_flushes_when_the_handler_raises_and_writes_nothing_when_disabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from tda.adapters.emf_metrics import EmfMetrics

    out = io.StringIO()
    metrics = EmfMetrics("TestDataAgent", "test-data-agent", out)

    @metrics.log_metrics
    def failing() -> None:
        metrics.count("Attempts")
        raise RuntimeError("the request failed")

    monkeypatch.delenv("METRICS_DISABLED", raising=False)
    with pytest.raises(RuntimeError):
        failing()
    assert json.loads(out.getvalue())["Attempts"] == 1
    monkeypatch.setenv("METRICS_DISABLED", "true")
    with pytest.raises(RuntimeError):
        failing()
    assert len(out.getvalue().splitlines()) == 1  # counted, then dropped: nothing written
    monkeypatch.delenv("METRICS_DISABLED")
    metrics.flush()
    assert len(out.getvalue().splitlines()) == 1  # and not carried on to the next flush
