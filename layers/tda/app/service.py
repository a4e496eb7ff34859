"""The one entry point every adapter calls: request → checked plan → records → response.

``plan_request`` does every check before anything is generated, so bad input never yields a
partial result. ``generate`` answers a synchronous request through the path that serves it
(``tda.paths``); any count in bulk is ``tda.paths.traditional.bulk``'s.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from tda.app import ports_in_use
from tda.app.settings import settings
from tda.domain.coherence import CoherenceReport
from tda.domain.contract import (
    FieldType,
    GenerateRequest,
    GenerateResponse,
    GenerationMetadata,
    Scenario,
)
from tda.domain.errors import FieldIssue, InvalidRequestError, shown
from tda.domain.limits import size_issues
from tda.domain.plan import GenerationPlan, Override, ScenarioPlan
from tda.domain.routing import GenerationPath, RoutingDecision, route
from tda.domain.schema.loader import apply_constraints, spec_from_fields
from tda.domain.schema.registry import get_entity
from tda.domain.schema.spec import EntitySpec, FieldSpec, item_path
from tda.domain.validation import parse_temporal, validate_value
from tda.paths import registry
from tda.paths.base import PathResult
from tda.paths.finish import finish, metadata_for
from tda.paths.traditional.engine import (
    fits_uniquely,
    unique_capacity,
)
from tda.paths.traditional.pools import check_locale
from tda.paths.traditional.slabs import slab_window

DEFAULT_SCENARIO = "default"
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})


# --------------------------------------------------------------------------- planning


def resolve_spec(request: GenerateRequest) -> EntitySpec:
    """The request's schema: a caller's fields, or a registered entity, with its constraints."""
    schema = request.schema_
    constraints = request.constraints.field_constraints if request.constraints is not None else {}
    if schema is not None and schema.fields:
        name = request.entity or schema.predefined_schema or "record"
        return spec_from_fields(name, request.domain, schema.fields, constraints)
    if schema is not None and schema.predefined_schema:
        spec = get_entity(schema.predefined_schema, field="schema.predefined_schema")
    elif request.entity.strip():
        spec = get_entity(request.entity)
    else:
        raise InvalidRequestError.single(
            "entity", "name an entity (e.g. cart) or send schema.fields"
        )
    return apply_constraints(spec, constraints) if constraints else spec


def plan_request(request: GenerateRequest, max_count: int | None = None) -> GenerationPlan:
    """Check everything about a request and compile it; raises InvalidRequestError, field by field."""
    limit = settings.max_records if max_count is None else max_count
    issues: list[FieldIssue] = []
    if request.count < 1:
        issues.append(FieldIssue("count", f"must be at least 1 (got {request.count})"))
    elif request.count > limit:
        hint = (
            "; use GenerateDataStream, a job, or the CLI for more"
            if limit < settings.max_records
            else ""
        )
        issues.append(FieldIssue("count", f"{request.count} is above the limit of {limit}{hint}"))
    locale = request.locale
    try:
        locale = check_locale(request.locale)
    except InvalidRequestError as exc:
        issues.extend(exc.issues)
    try:
        spec = resolve_spec(request)
    except InvalidRequestError as exc:
        raise InvalidRequestError(issues + exc.issues) from None
    scenarios = _plan_scenarios(spec, request.scenarios, request.count, issues)
    if 1 <= request.count <= limit:
        sync = limit <= settings.max_sync_records
        max_bytes = settings.max_response_bytes if sync else settings.max_output_bytes
        issues.extend(size_issues(spec, request.count, sync, max_bytes))
    for f in spec.fields:
        if f.unique and f.type is not FieldType.UUID and request.count > unique_capacity(f):
            issues.append(
                FieldIssue(
                    f.path,
                    f"unique format {f.format} has only {unique_capacity(f)} distinct values",
                )
            )
    if issues:
        raise InvalidRequestError(issues)
    seed = request.seed if request.seed is not None else secrets.randbits(62)
    window = slab_window(seed, request.count) if not request.scenarios else None
    if window is not None and not fits_uniquely(spec, window.size):
        window = None
    return GenerationPlan(
        spec=spec,
        count=request.count,
        seed=seed,
        locale=locale,
        scenarios=scenarios,
        window=window,
    )


def _plan_scenarios(
    spec: EntitySpec, scenarios: list[Scenario], count: int, issues: list[FieldIssue]
) -> tuple[ScenarioPlan, ...]:
    if not scenarios:
        return (ScenarioPlan(DEFAULT_SCENARIO, max(count, 0)),)
    planned = []
    seen: set[str] = set()
    for i, scenario in enumerate(scenarios):
        where = f"scenarios[{i}]"
        name = scenario.name.strip()
        if not name:
            issues.append(FieldIssue(f"{where}.name", "must not be empty"))
        elif name in seen:
            issues.append(FieldIssue(f"{where}.name", f"duplicate scenario '{name}'"))
        seen.add(name)
        if scenario.count < 1:
            issues.append(
                FieldIssue(f"{where}.count", f"must be at least 1 (got {scenario.count})")
            )
        overrides = tuple(
            o
            for key, raw in scenario.overrides.items()
            if (
                o := parse_override(
                    spec, key, raw, f"{where}.overrides.{key}", scenario.count, issues
                )
            )
            is not None
        )
        planned.append(
            ScenarioPlan(name or f"scenario_{i}", scenario.count, overrides, scenario.description)
        )
    total = sum(s.count for s in scenarios)
    if total != count and count >= 1:
        issues.append(
            FieldIssue("scenarios", f"scenario counts add up to {total}, but count is {count}")
        )
    return tuple(planned)


def parse_override(
    spec: EntitySpec, path: str, raw: str, where: str, rows: int, issues: list[FieldIssue]
) -> Override | None:
    """A scenario override as a typed, checked internal value (cents, epoch seconds...)."""
    target = spec.find(path) or spec.find(item_path(path))
    if target is None:
        issues.append(FieldIssue(where, f"no field '{path}' in {spec.name}"))
        return None
    if not target.is_scalar:
        issues.append(
            FieldIssue(
                where,
                f"'{path}' is an {target.type.value}; override its fields instead (e.g. {path}.<field>)",
            )
        )
        return None
    if target.unique and rows > 1:
        issues.append(
            FieldIssue(where, f"'{path}' is unique; one value cannot go to {rows} records")
        )
        return None
    try:
        value, internal = _typed(target, raw)
    except ValueError as exc:
        issues.append(FieldIssue(where, str(exc)))
        return None
    problems = validate_value(target, value)
    if problems:
        issues.append(FieldIssue(where, f"{shown(raw)} {problems[0]}"))
        return None
    return Override(target.path, internal)


def _typed(f: FieldSpec, raw: str) -> tuple[Any, Any]:
    """(wire value, internal value) of an override string for field ``f``."""
    text = raw.strip()
    if text.lower() == "null":
        return None, None
    t = f.type
    if t is FieldType.INTEGER:
        try:
            number = int(text)
        except ValueError:
            raise ValueError(f"{shown(raw)} is not an integer") from None
        return number, number
    if t is FieldType.FLOAT:
        try:
            real = float(text)
        except ValueError:
            raise ValueError(f"{shown(raw)} is not a number") from None
        if f.is_money:
            return real, round(real * 100) if abs(
                real * 100 - round(real * 100)
            ) < 1e-6 else real * 100
        return real, real
    if t is FieldType.BOOLEAN:
        if text.lower() in _TRUE:
            return True, True
        if text.lower() in _FALSE:
            return False, False
        raise ValueError(f"{shown(raw)} is not true or false")
    if t in (FieldType.DATE, FieldType.DATETIME):
        stamp = parse_temporal(f, text)
        if stamp is None:
            raise ValueError(f"{shown(raw)} is not a {t.value.lower()} ({f.format or 'ISO 8601'})")
        return text, stamp
    return raw, raw


# --------------------------------------------------------------------------- generation


def generate(
    request: GenerateRequest, decision: RoutingDecision | None = None, warm: bool = False
) -> GenerateResponse:
    """A synchronous response (count ≤ MAX_SYNC_RECORDS), every record validated before it leaves.

    The path that serves is the routed one if it can serve here, else traditional generation
    (``tda.paths.registry``); the metadata says which and why. ``warm``: a long-lived process
    may answer a request with neither seed nor scenarios from records kept warm.
    """
    started = time.perf_counter()
    decision = decision or route(request)  # the router has made it already
    plan = plan_request(request, max_count=settings.max_sync_records)
    generator, fallback = registry.serving(decision.path)
    result = generator.generate(plan, warm=warm and request.seed is None and not request.scenarios)
    data, metadata = finish(result, request.output_format, decision, started, fallback)
    counted = ports_in_use.metrics()
    counted.count(f"Records{result.served_by.value.capitalize()}", len(result.records))
    if fallback:
        counted.count(f"Fallback{decision.path.value.capitalize()}")
    return GenerateResponse(
        request_id=request.request_id,
        success=True,
        data=data.decode("utf-8"),
        record_count=len(result.records),
        metadata=metadata,
    )


def bulk_metadata(
    plan: GenerationPlan, decision: RoutingDecision, coherence: CoherenceReport, started: float
) -> GenerationMetadata:
    """The metadata of a range, a stream or a job: always made by traditional generation in
    bulk, with its rules by construction (every locale × entity is tested, not re-validated)."""
    fallback = ""
    if decision.path is not GenerationPath.TRADITIONAL:
        reason = registry.unavailable_reason(decision.path) or "does not make streams or jobs"
        fallback = registry.fallback_reason(decision.path, reason)
    made = PathResult(GenerationPath.TRADITIONAL, plan, [], coherence)
    return metadata_for(made, decision, started, fallback)
