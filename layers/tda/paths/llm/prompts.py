"""Prompts from data files (``data/llm/``): the seeds' system prompt with the retailer's domain
knowledge, and the five templates, chosen by the seeds' rules. The static part (system prompt)
comes first so providers' prompt caching applies; what varies (schema, scenarios, the records'
numbers) is in the user prompt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tda.domain.data_file import load_data_file
from tda.domain.plan import GenerationPlan
from tda.paths.llm.proposals import Proposal, describe_constraints, describe_fields

DATA_DIR = Path(__file__).resolve().parent.parent.parent / "data" / "llm"
TEXT_ENTITIES = frozenset({"review", "comment", "feedback"})
COHERENT_ENTITIES = frozenset({"cart", "order"})


@dataclass(frozen=True)
class LLMConfig:
    prompt_version: int
    proposes: dict[str, list[str]]
    tokens_per_record: dict[str, int]
    max_output_tokens: int
    max_records_per_call: int
    template_meta: dict[str, str]

    def output_tokens_per_record(self, entity: str) -> int:
        return self.tokens_per_record.get(entity, self.tokens_per_record["default"])


@cache
def config() -> LLMConfig:
    data = load_data_file(DATA_DIR / "llm.yaml")
    return LLMConfig(
        prompt_version=int(data["prompt_version"]),
        proposes={k: list(v) for k, v in data["proposes"].items()},
        tokens_per_record={k: int(v) for k, v in data["output_tokens_per_record"].items()},
        max_output_tokens=int(data["max_output_tokens"]),
        max_records_per_call=int(data["max_records_per_call"]),
        template_meta=dict(data["template_meta"]),
    )


@cache
def system_prompt() -> str:
    retailer = load_data_file(DATA_DIR / "retailer.yaml")
    knowledge = "\n".join(f"- {line}" for line in retailer["domain_knowledge"])
    text = (DATA_DIR / "system.txt").read_text(encoding="utf-8")
    return text.format(retailer=retailer["retailer"], domain_knowledge=knowledge).strip()


@cache
def template(name: str) -> str:
    return (DATA_DIR / "templates" / f"{name}.txt").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Wants:
    """What of the request chooses a template (the seeds' rules, in their order)."""

    entity: str
    defect_triggering: bool
    coherent: bool
    has_examples: bool


def choose_template(wants: Wants) -> str:
    if wants.defect_triggering:
        return "edge_case"
    if wants.has_examples:  # the hybrid path: retrieved examples are the point of the prompt
        return "rag"
    if wants.entity in COHERENT_ENTITIES and wants.coherent:
        return "coherent"
    if wants.entity in TEXT_ENTITIES:
        return "text_content"
    return "general"


def describe_scenarios(plan: GenerationPlan, first: int, last: int) -> str:
    """Which scenario each record of ``[first, last]`` belongs to, as index ranges."""
    lines, start = [], 0
    for scenario in plan.scenarios:
        stop = start + scenario.count - 1
        lo, hi = max(start, first), min(stop, last)
        if lo <= hi:
            about = f": {scenario.description}" if scenario.description else ""
            lines.append(f'- _index {lo}-{hi}: _scenario "{scenario.name}"{about}')
        start = stop + 1
    return "\n".join(lines)


def user_prompt(
    name: str,
    plan: GenerationPlan,
    proposal: Proposal,
    context: str,
    first: int,
    last: int,
    examples: Sequence[Any] = (),
) -> str:
    count = last - first + 1
    values = {
        "count": count,
        "first": first,
        "last": last,
        "domain": plan.spec.domain or "ecommerce",
        "entity_type": plan.spec.name,
        "content_type": plan.spec.name,
        "context": context.strip() or f"Test data for {plan.spec.name} records.",
        "schema": describe_fields(proposal),
        "constraints": describe_constraints(proposal),
        "scenarios": describe_scenarios(plan, first, last),
        "rag_examples": _examples(examples),
        "defect_patterns": _examples(examples) or "- (none stored: use the edge cases below)",
        "sentiment_distribution": "about 60% positive, 25% neutral, 15% negative, following each rating",
    }
    return template(name).format(**values).strip()


def repair_prompt(proposal: Proposal, broken: list[tuple[Any, list[str]]]) -> str:
    shown = "\n".join(
        f"- {json.dumps(answer, ensure_ascii=False)[:2000]}\n  errors: {'; '.join(errors)[:1000]}"
        for answer, errors in broken
    )
    return (
        template("repair")
        .format(
            schema=describe_fields(proposal),
            constraints=describe_constraints(proposal),
            broken=shown,
            count=len(broken),
        )
        .strip()
    )


def _examples(examples: Sequence[Any]) -> str:
    return "\n".join(f"- {json.dumps(e, ensure_ascii=False)[:1500]}" for e in examples)
