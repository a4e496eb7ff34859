"""The corpus: the seed examples shipped as data (``data/rag/``) and a team's own, as entries.

Files, one object per example (JSON array or NDJSON; the seed set is NDJSON):

- patterns: ``{"id", "domain", "entity", "scenario", "description", "quality_score",
  "record": {...}}``: a good example of an entity in a scenario;
- defects: ``{"id", "domain", "entity", "edge_case_type", "description", "severity",
  "discovered_at", "trigger": {"path": value}, "remove": ["path"]}``: data that triggered a
  real bug (``items[0].quantity`` names the first item's field);
- production: ``{"id", "domain", "entity", "description", "records": [...],
  "stats": {"categorical": {...}, "numeric": {...}}}``: anonymised records and their
  distributions (``tda.paths.retrieval.production``).

An object names its collection with ``"collection"`` (default: patterns). Everything a team
adds is screened for personal data first (``tda.domain.pii``): masked, or refused when asked.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tda.domain.errors import FieldIssue, InvalidRequestError
from tda.domain.pii import Masking, mask
from tda.domain.validation.checks import INT_MAX, INT_MIN
from tda.ports.memory import COLLECTIONS, DEFECTS, PATTERNS, PRODUCTION, Entry

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "rag"
SEVERITIES = ("low", "medium", "high", "critical")
MAX_ENTRY_BYTES = 256 * 1024
MAX_ENTRIES_PER_FILE = 100_000


@dataclass
class Loaded:
    """Entries by collection, what was masked, and the problems of the ones refused."""

    entries: dict[str, list[Entry]] = field(default_factory=lambda: {c: [] for c in COLLECTIONS})
    masking: Masking = field(default_factory=Masking)
    issues: list[FieldIssue] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.entries.values())


def seed_corpus() -> Loaded:
    """The shipped examples (loaded unmasked: they are synthetic, and checked by a test)."""
    loaded = Loaded()
    for collection in COLLECTIONS:
        path = DATA_DIR / f"{collection}.ndjson"
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                _take(loaded, json.loads(line), f"{path.name}:{i + 1}", collection, screen=False)
    if loaded.issues:
        raise ValueError(f"the shipped corpus is malformed: {loaded.issues[0]}")
    return loaded


def parse_file(text: str, source: str) -> list[Any]:
    """The objects of a JSON array or NDJSON file."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        return list(_parsed(stripped, source))
    return [
        _parsed(line, f"{source}:{i + 1}")
        for i, line in enumerate(text.splitlines())
        if line.strip()
    ]


def _parsed(text: str, where: str) -> Any:
    try:
        return json.loads(
            text, parse_int=_held_int, parse_float=_held_float, parse_constant=_no_constant
        )
    except json.JSONDecodeError as exc:
        raise InvalidRequestError.single(where, f"not valid JSON: {exc}") from None
    except ValueError as exc:  # from the three below: a number no record can hold
        raise InvalidRequestError.single(where, str(exc)) from None
    except RecursionError:  # json.loads' own limit (~1,000 levels), not a JSONDecodeError
        raise InvalidRequestError.single(
            where, "not valid JSON (nested deeper than the parser reads)"
        ) from None


# Numbers a stored example may hold: what a record may (a defect's 400-digit quantity was laid
# into records and the renderer raised on it).
def _held_int(text: str) -> int:
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise ValueError(f"holds {_clipped(text)}, an integer past 64 bits")
    return value


def _held_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"holds {_clipped(text)}, a number past any float")
    return value


def _clipped(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:24]}…"


def _no_constant(text: str) -> float:
    raise ValueError(f"holds {text}, which is not a number JSON has")


def team_entries(items: Iterable[Any], source: str, refuse_personal: bool) -> Loaded:
    """A team's examples as entries, personal data masked (or, ``refuse_personal``, refused)."""
    loaded = Loaded()
    for i, item in enumerate(items):
        if i >= MAX_ENTRIES_PER_FILE:
            loaded.issues.append(FieldIssue(source, f"more than {MAX_ENTRIES_PER_FILE} entries"))
            break
        where = f"{source}[{i}]"
        collection = item.get("collection", PATTERNS) if isinstance(item, dict) else PATTERNS
        _take(loaded, item, where, collection, screen=True)
    if refuse_personal and loaded.masking.found:
        loaded.issues.append(
            FieldIssue(
                source,
                "holds values that look like real personal data: "
                + ", ".join(loaded.masking.where[:5])
                + " (mask them, or add without --refuse-personal-data to mask them here)",
            )
        )
    return loaded


def _take(loaded: Loaded, item: Any, where: str, collection: str, screen: bool) -> None:
    if collection not in COLLECTIONS:
        loaded.issues.append(
            FieldIssue(f"{where}.collection", f"must be one of {', '.join(COLLECTIONS)}")
        )
        return
    if not isinstance(item, dict):
        loaded.issues.append(FieldIssue(where, "must be an object"))
        return
    if len(json.dumps(item, ensure_ascii=False)) > MAX_ENTRY_BYTES:
        loaded.issues.append(FieldIssue(where, f"is over {MAX_ENTRY_BYTES // 1024} KB"))
        return
    if screen:
        item = mask(item, loaded.masking, where)
    try:
        entry = _entry(collection, item)
    except ValueError as exc:
        loaded.issues.append(FieldIssue(where, str(exc)))
        return
    loaded.entries[collection].append(entry)


def _text(item: Mapping[str, Any], key: str, default: str = "") -> str:
    value = item.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value.strip()


def _entry(collection: str, item: Mapping[str, Any]) -> Entry:
    entity = _text(item, "entity")
    if not entity:
        raise ValueError("entity is required")
    domain = _text(item, "domain", "ecommerce") or "ecommerce"
    description = _text(item, "description")
    if collection == PATTERNS:
        record = item.get("record")
        if not isinstance(record, dict):
            raise ValueError("record must be an object (the example itself)")
        scenario = _text(item, "scenario", "happy_path") or "happy_path"
        quality = item.get("quality_score", 0.9)
        if not isinstance(quality, (int, float)) or not 0 <= quality <= 1:
            raise ValueError("quality_score must be a number from 0 to 1")
        data: dict[str, Any] = {"record": record, "description": description}
        text = f"{domain} {entity} {scenario.replace('_', ' ')}: {description}"
        return Entry(
            id=_text(item, "id") or content_id("PAT", entity, record),
            domain=domain,
            entity=entity,
            text=text,
            data=json.dumps(data, ensure_ascii=False, sort_keys=True),
            scenario=scenario,
            quality_score=float(quality),
            usage_count=int(item.get("usage_count", 0) or 0),
            created_at=_text(item, "created_at"),
        )
    if collection == DEFECTS:
        trigger = item.get("trigger", {})
        remove = item.get("remove", [])
        if not isinstance(trigger, dict) or not isinstance(remove, list) or not (trigger or remove):
            raise ValueError("a defect needs trigger (an object of path: value) or remove (paths)")
        severity = _text(item, "severity", "medium").lower()
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
        kind = _text(item, "edge_case_type", "defect") or "defect"
        data = {
            "trigger": trigger,
            "remove": remove,
            "edge_case_type": kind,
            "description": description,
        }
        return Entry(
            id=_text(item, "id") or content_id("DEF", entity, data),
            domain=domain,
            entity=entity,
            text=f"{domain} {entity} defect {kind.replace('_', ' ')}: {description}",
            data=json.dumps(data, ensure_ascii=False, sort_keys=True),
            scenario=kind,
            severity=severity,
            quality_score=1.0,
            created_at=_text(item, "discovered_at"),
        )
    stats = item.get("stats")
    if not isinstance(stats, dict):
        raise ValueError("stats must be an object (categorical and numeric distributions)")
    records = item.get("records", [])
    if not isinstance(records, list):
        raise ValueError("records must be an array")
    data = {"stats": stats, "records": records, "description": description}
    return Entry(
        id=_text(item, "id") or content_id("PRD", entity, data),
        domain=domain,
        entity=entity,
        text=f"{domain} {entity} production sample: {description}",
        data=json.dumps(data, ensure_ascii=False, sort_keys=True),
        scenario="production",
        quality_score=1.0,
        created_at=_text(item, "sample_date"),
    )


def content_id(prefix: str, entity: str, content: Any) -> str:
    """An id from the content itself: the same example added twice is one entry."""
    digest = hashlib.sha256(
        json.dumps(content, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()
    return f"{prefix}-{entity.upper()}-{digest[:12]}"


__all__ = ["DEFECTS", "PATTERNS", "PRODUCTION", "Loaded", "parse_file", "seed_corpus"]
