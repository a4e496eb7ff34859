"""Learning: a generation the caller asked to learn from (``learn_from_history``), coherent
enough (score ≥ ``coherence_threshold``), is stored back as patterns, so the corpus grows with
use. Only what is new is stored: records adapted from a stored pattern count a reuse of it
instead (``Memory.used``), and the rest are keyed by a hash of what they teach (not their ids
or timestamps), so the same content learned twice is one pattern.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tda.domain.coherence import CoherenceReport
from tda.domain.errors import TdaError
from tda.domain.plan import GenerationPlan
from tda.paths.retrieval.adapt import taught_fields
from tda.paths.retrieval.corpus import MAX_ENTRY_BYTES, content_id
from tda.paths.retrieval.memory import Memory
from tda.ports.memory import PATTERNS, Entry

# Each new pattern is embedded while the caller waits (~10 ms a pattern on this machine's CPU,
# bench/bench_rag.py): a request learns a few, and the corpus still grows with every request
# that brings something new.
MAX_LEARNED_PER_REQUEST = 3
MAX_CANDIDATES = 4 * MAX_LEARNED_PER_REQUEST  # hashed and looked up: the rest wait their turn
SUMMARY_CHARS = 120  # what a learned pattern is found by: its words, not its codes
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
    eligible = [
        i
        for i, record in enumerate(records)
        if str(record.get("_source", "")) in NEW_SOURCES  # else remembered: its reuse counted
        and not (len(scores) > i and scores[i] < threshold)
    ]
    context_words = set(_WORD.findall(plan.brief.context.lower()))
    echoes = {i for i in eligible if _named_from(context_words, records[i])}
    echoed = (
        [f"{len(echoes)} record(s) named only in the context's words: not learned"]
        if echoes
        else []
    )
    eligible = [i for i in eligible if i not in echoes]
    if not eligible:
        return Learned(notes=echoed or ["nothing new to learn: every record came from the memory"])
    candidates: dict[str, int] = {}  # content id -> record index; only a few are hashed
    for i in eligible[:MAX_CANDIDATES]:
        candidates.setdefault(pattern_id(plan, records[i]), i)
    try:
        known = {e.id for e in memory.store.get(PATTERNS, list(candidates))}
        memory.used(PATTERNS, sorted(known))  # the same content again: a reuse, not a copy
        new = [i for id_, i in candidates.items() if id_ not in known]
        chosen: list[Entry] = []
        too_large = 0
        for i in new:
            if len(chosen) == MAX_LEARNED_PER_REQUEST:
                break
            entry = pattern_of(plan, records[i], float(scores[i]) if len(scores) > i else 1.0)
            if len(entry.data.encode()) > MAX_ENTRY_BYTES:
                too_large += 1  # as a team's entry would be refused: the store stays small
                continue
            chosen.append(entry)
        memory.add(PATTERNS, chosen, new=True)
    except TdaError as exc:
        return Learned(notes=[f"not learned: {exc}"])
    notes = echoed
    if len(chosen) == MAX_LEARNED_PER_REQUEST and len(eligible) > len(chosen) + len(known):
        notes.append(
            f"learned {len(chosen)} of {len(eligible)} record(s) not from the memory: at most "
            f"{MAX_LEARNED_PER_REQUEST} a request (each is embedded while the caller waits)"
        )
    if known:
        notes.append(f"{len(known)} record(s) already remembered: their usage counted")
    if too_large:
        notes.append(f"{too_large} record(s) over {MAX_ENTRY_BYTES // 1024} KiB: not learned")
    ids = [e.id for e in chosen]
    if not ids:
        return Learned(notes=notes or ["nothing new to learn"])
    return Learned(
        summary=f"{len(ids)} pattern(s): {', '.join(ids)}",
        ids=ids,
        notes=notes,
    )


# What names a thing in a record: a cart's or order's item names, a product's name, a
# review's title.
NAME_FIELDS = frozenset({"name", "title", "product_name"})
_WORD = re.compile(r"\w+")


def _named_from(context_words: set[str], record: dict[str, Any]) -> bool:
    """Whether any of the record's names is made of the request's context's words alone: a
    small model (SmolLM2) named a cart's items "Hands On" and "Fitness" from a context about
    hands-on fitness classes. Kept by every rule (no catalog places such an item), they were
    stored, to be retrieved later as real products. Only learning asks: the caller still
    gets what the model wrote."""
    if not context_words:
        return False
    for name in _names(record):
        words = set(_WORD.findall(name.lower()))
        if words and words <= context_words:
            return True
    return False


def _names(value: Any) -> list[str]:
    """The strings under NAME_FIELDS, at any depth."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in NAME_FIELDS and isinstance(inner, str):
                found.append(inner)
            elif isinstance(inner, dict | list):
                found += _names(inner)
    elif isinstance(value, list):
        for inner in value:
            found += _names(inner)
    return found


def pattern_id(plan: GenerationPlan, record: dict[str, Any]) -> str:
    """The hash of what ``record`` teaches: the same content learned twice is one pattern."""
    return content_id("LRN", plan.spec.name, _taught(plan, record))


def _taught(plan: GenerationPlan, record: dict[str, Any]) -> dict[str, Any]:
    return {f.name: record[f.name] for f in taught_fields(plan.spec) if f.name in record}


def pattern_of(plan: GenerationPlan, record: dict[str, Any], score: float) -> Entry:
    """``record`` as a pattern keyed by the hash of what it teaches."""
    taught = _taught(plan, record)
    clean = {k: v for k, v in record.items() if not k.startswith("_")}
    scenario = str(record.get("_scenario") or "learned")
    description = plan.brief.context.strip()[:SUMMARY_CHARS] or _summary(taught)
    return Entry(
        id=pattern_id(plan, record),
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
    """The words of the taught values (item names, categories, statuses, titles): what a
    search would match. Codes (SKUs, currency codes) are left out: they match no query and
    cost the embedder several tokens each."""
    words: list[str] = []
    size = 0

    def visit(value: Any) -> None:
        nonlocal size
        if isinstance(value, str):
            if size < SUMMARY_CHARS and _is_words(value) and value not in words:
                words.append(value[:80])
                size += len(words[-1]) + 2
        elif isinstance(value, dict):
            for v in value.values():
                visit(v)
        elif isinstance(value, list):
            for v in value:
                visit(v)

    visit(taught)
    return "; ".join(words)[:SUMMARY_CHARS]


def _is_words(value: str) -> bool:
    """Prose, a name or a label ("Running Shoes", "shipped"), not a code ("NIKE-RUN-BLK-10",
    "USD")."""
    return any(c.islower() for c in value) and not any(c.isdigit() for c in value.split()[0])
