"""Learning: a generation the caller asked to learn from (``learn_from_history``), coherent
enough (score ≥ ``coherence_threshold``), is stored back as patterns, so the corpus grows with
use. Only what is new is stored: records adapted from a stored pattern count a reuse of it
instead (``Memory.used``), and the rest are keyed by a hash of what they teach (not their ids
or timestamps), so the same content learned twice is one pattern.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tda.domain.coherence import CoherenceReport
from tda.domain.errors import TdaError
from tda.domain.plan import GenerationPlan
from tda.paths.retrieval.adapt import taught_fields
from tda.paths.retrieval.corpus import content_id
from tda.paths.retrieval.memory import Memory
from tda.ports.memory import PATTERNS, Entry

MAX_LEARNED_PER_REQUEST = 20
# What a record's ``_source`` says when it is new: not adapted from a stored entry.
NEW_SOURCES = frozenset({"", "traditional", "model"})


@dataclass(frozen=True)
class Learned:
    summary: str = ""
    ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def learn(
    memory: Memory,
    plan: GenerationPlan,
    records: list[dict[str, Any]],
    coherence: CoherenceReport,
    threshold: float,
) -> Learned:
    if coherence.score < threshold:
        return Learned(
            notes=[f"not learned: coherence {coherence.score:.2f} is below {threshold:.2f}"]
        )
    scores = coherence.record_scores
    entries: dict[str, Entry] = {}
    for i, record in enumerate(records):
        if len(entries) >= MAX_LEARNED_PER_REQUEST:
            break
        if str(record.get("_source", "")) not in NEW_SOURCES:
            continue  # already remembered: its reuse was counted
        if len(scores) > i and scores[i] < threshold:
            continue
        entry = pattern_of(plan, record, float(scores[i]) if len(scores) > i else 1.0)
        entries.setdefault(entry.id, entry)
    if not entries:
        return Learned(notes=["nothing new to learn: every record came from the memory"])
    try:
        memory.add(PATTERNS, list(entries.values()))
    except TdaError as exc:
        return Learned(notes=[f"not learned: {exc}"])
    ids = list(entries)
    return Learned(
        summary=f"{len(ids)} pattern(s): {', '.join(ids[:5])}{' …' if len(ids) > 5 else ''}",
        ids=ids,
    )


def pattern_of(plan: GenerationPlan, record: dict[str, Any], score: float) -> Entry:
    """``record`` as a pattern keyed by the hash of what it teaches."""
    taught = {f.name: record[f.name] for f in taught_fields(plan.spec) if f.name in record}
    clean = {k: v for k, v in record.items() if not k.startswith("_")}
    scenario = str(record.get("_scenario") or "learned")
    description = (plan.brief.context.strip() or _summary(taught))[:500]
    return Entry(
        id=content_id("LRN", plan.spec.name, taught),
        domain=plan.spec.domain,
        entity=plan.spec.name,
        text=f"{plan.spec.domain} {plan.spec.name} {scenario.replace('_', ' ')}: {description}",
        data=json.dumps(
            {"record": clean, "description": description}, ensure_ascii=False, sort_keys=True
        ),
        scenario=scenario,
        quality_score=round(score, 4),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _summary(taught: dict[str, Any]) -> str:
    """Words of the taught values (item names, statuses, titles): what a search would match."""
    words: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, str) and len(words) < 40:
            words.append(value[:80])
        elif isinstance(value, dict):
            for v in value.values():
                visit(v)
        elif isinstance(value, list):
            for v in value:
                visit(v)

    visit(taught)
    return "; ".join(words)
