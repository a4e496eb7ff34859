"""The router's decision for each path, with its reason, and the fallback it reports today."""

from __future__ import annotations

import pytest

from tda.app.service import generate
from tda.domain.routing import GenerationPath, route

from ..conftest import make_request

CASES = [
    ({"entity": "user", "count": 1000}, GenerationPath.TRADITIONAL, "no context"),
    (
        {"entity": "cart", "count": 10, "hints": ["fast", "coherent"]},
        GenerationPath.TRADITIONAL,
        "'fast'",
    ),
    (
        {"entity": "cart", "count": 3, "hints": ["coherent", "realistic"]},
        GenerationPath.LLM,
        "'coherent' hint",
    ),
    (
        {"entity": "cart", "count": 3, "context": "carts for fitness enthusiasts"},
        GenerationPath.LLM,
        "context given",
    ),
    ({"entity": "review", "count": 5}, GenerationPath.LLM, "text-heavy"),
    (
        {
            "entity": "cart",
            "count": 2,
            "scenarios": [{"name": "a", "count": 2, "description": "x"}],
        },
        GenerationPath.LLM,
        "scenario descriptions",
    ),
    (
        {"entity": "cart", "count": 5, "learn_from_history": True},
        GenerationPath.RAG,
        "learn_from_history",
    ),
    (
        {"entity": "order", "count": 5, "defect_triggering": True},
        GenerationPath.RAG,
        "defect_triggering",
    ),
    (
        {"entity": "cart", "count": 5, "hints": ["similar to last week"]},
        GenerationPath.RAG,
        "similar to",
    ),
    (
        {"entity": "cart", "count": 3, "learn_from_history": True, "hints": ["coherent"]},
        GenerationPath.HYBRID,
        "history",
    ),
    (
        {"entity": "cart", "count": 900, "context": "a long enough context"},
        GenerationPath.LLM,
        "catalog mode",
    ),
    (
        {"entity": "cart", "count": 900, "hints": ["coherent"]},
        GenerationPath.TRADITIONAL,
        "above the LLM limit",
    ),
    (
        {"entity": "cart", "count": 50_000, "hints": ["bulk", "coherent"]},
        GenerationPath.LLM,
        "catalog",
    ),
    (
        {"entity": "cart", "count": 900, "learn_from_history": True, "hints": ["coherent"]},
        GenerationPath.RAG,
        "ignored above",
    ),
    # A hint no rule reads was dropped without a word ("no context, hints or history").
    (
        {"entity": "cart", "count": 3, "hints": ["Realistc", "", "fast"]},
        GenerationPath.TRADITIONAL,
        "'fast' hint: schema-driven generation; hints read by no rule: 'realistc' (the rules "
        "read bulk, coherent, edge_case, fast, intelligent, realistic, varied sentiment, and "
        "hints starting historical, pattern or similar)",
    ),
    (
        {"entity": "cart", "count": 3, "hints": ["realistc"]},
        GenerationPath.TRADITIONAL,
        "no context, routing hint or history: schema-driven generation; hints read by no rule: "
        "'realistc'",
    ),  # A context too short to send was said to be none ("no context, routing hint or ...").
    (
        {"entity": "cart", "count": 3, "context": " gym stuff "},
        GenerationPath.TRADITIONAL,
        "the context ('gym stuff', 9 characters) is shorter than the 10 a model is sent for, "
        "and no routing hint or history: schema-driven generation",
    ),
]


@pytest.mark.parametrize(("fields", "path", "reason"), CASES)
def test_route(fields: dict[str, object], path: GenerationPath, reason: str) -> None:
    decision = route(make_request(**fields))
    assert decision.path is path
    assert reason in decision.reason
    assert 0.0 < decision.confidence <= 1.0


def test_response_reports_decision_and_why_traditional_served(no_model: None) -> None:
    response = generate(make_request(entity="cart", count=3, hints=["coherent"]))
    meta = response.metadata
    assert (meta.routed_path, meta.generation_path) == ("traditional", "traditional")
    assert "'coherent' hint, but llm not configured" in meta.routing_reason
    plain = generate(make_request(entity="cart", count=3)).metadata
    assert plain.routed_path == "traditional" and plain.fallback_reason == ""
