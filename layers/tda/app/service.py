"""The one entry point every adapter calls: request → checked plan → records → response.

``plan_request`` does every check before anything is generated, so bad input never yields a
partial result. ``generate`` answers a synchronous request through the path that serves it
(``tda.paths``); any count in bulk is ``tda.paths.traditional.bulk``'s.
"""

from __future__ import annotations

import math
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
    LLMReport,
    Scenario,
)
from tda.domain.errors import (
    FieldIssue,
    GeneratedInvalidRecordError,
    InvalidRequestError,
    TdaError,
    shown,
)
from tda.domain.limits import MAX_OVERRIDE_REGEX_STEPS, OverrideChecks, prompt_issues, size_issues
from tda.domain.output_clashes import column_clashes
from tda.domain.plan import (
    SEED_BITS,
    GenerationPlan,
    ModelBrief,
    Override,
    ScenarioPlan,
    fresh_seed,
)
from tda.domain.routing import (
    BULK_HINT,
    EDGE_CASE_HINT,
    GenerationPath,
    RoutingDecision,
    route,
)
from tda.domain.schema.loader import apply_constraints, spec_from_fields
from tda.domain.schema.registry import get_entity
from tda.domain.schema.spec import (
    MAX_STRING_LENGTH,
    MONEY_END,
    TIME_RANGE,
    EntitySpec,
    FieldSpec,
    item_path,
)
from tda.domain.validation import parse_temporal, validate_value
from tda.paths import registry
from tda.paths.base import Generator, PathResult
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
    schema = request.schema
    constraints = request.constraints.field_constraints if request.constraints is not None else {}
    if schema is not None and schema.fields:
        name = request.entity or schema.predefined_schema or "record"
        return spec_from_fields(name, request.domain, schema.fields, constraints)
    if schema is not None and schema.predefined_schema:
        spec = get_entity(schema.predefined_schema, field="schema.predefined_schema")
        named = get_entity(request.entity) if request.entity.strip() else spec
        if named.name != spec.name:  # which was meant: said, not guessed
            raise InvalidRequestError.single(
                "schema.predefined_schema",
                f"names '{spec.name}', but entity names '{named.name}': send one, or the same",
            )
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
    issues.extend(prompt_issues(request.context, [s.description for s in request.scenarios]))
    locale = request.locale
    try:
        locale = check_locale(request.locale)
    except InvalidRequestError as exc:
        issues.extend(exc.issues)
    try:
        spec = resolve_spec(request)
    except InvalidRequestError as exc:
        raise InvalidRequestError(issues + exc.issues) from None
    issues.extend(column_clashes(spec, request.output_format))
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
    seed = request.seed if request.seed is not None else fresh_seed(SEED_BITS)
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
        brief=_brief(request),
    )


def _brief(request: GenerateRequest) -> ModelBrief:
    hints = {h.strip().lower() for h in request.hints}
    return ModelBrief(
        context=request.context,
        coherent=bool(hints & {"coherent", "realistic"}),
        defect_triggering=request.defect_triggering or EDGE_CASE_HINT in hints,
        use_cache=request.use_cache,
        bulk=BULK_HINT in hints,
        learn_from_history=request.learn_from_history,
        production_like=request.production_like,
    )


def _plan_scenarios(
    spec: EntitySpec, scenarios: list[Scenario], count: int, issues: list[FieldIssue]
) -> tuple[ScenarioPlan, ...]:
    if not scenarios:
        return (ScenarioPlan(DEFAULT_SCENARIO, max(count, 0)),)
    planned = []
    seen: set[str] = set()
    checks = OverrideChecks()
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
                    spec, key, raw, f"{where}.overrides.{key}", scenario.count, issues, checks
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
    spec: EntitySpec,
    path: str,
    raw: str,
    where: str,
    rows: int,
    issues: list[FieldIssue],
    checks: OverrideChecks,
) -> Override | None:
    """A scenario override as a typed, checked internal value (cents, epoch seconds...), its
    check against a regex paid from the request's ``checks``."""
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
    if checks.steps_left < 0:
        return None  # past the budget: the override that went past it is named
    if not checks.afford(target, raw):
        issues.append(
            FieldIssue(
                where,
                f"checking it and the overrides before it against their fields' regexes can "
                f"take more than {MAX_OVERRIDE_REGEX_STEPS:,} steps (a value's length times the "
                "places a match can be at once)",
            )
        )
        return None
    problems = validate_value(target, value)
    if problems:
        issues.append(FieldIssue(where, f"{shown(raw)} {problems[0]}"))
        return None
    return Override(target.path, internal)


def _typed(f: FieldSpec, raw: str) -> tuple[Any, Any]:
    """(wire value, internal value) of an override string for field ``f``."""
    if len(raw) > MAX_STRING_LENGTH:  # 1,000 records of a 1 MB override were 1 GB of output
        raise ValueError(f"{shown(raw)} is longer than {MAX_STRING_LENGTH:,} characters")
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
        if not math.isfinite(real):
            raise ValueError(f"{shown(raw)} is not a finite number")
        if f.is_money and not abs(real) < MONEY_END:  # room for what is derived from it
            raise ValueError(f"{shown(raw)} must be between -{MONEY_END:,} and {MONEY_END:,}")
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
        if not TIME_RANGE[0] <= stamp <= TIME_RANGE[1]:  # 9999-12-31T23:59-14:00 is year 10000
            raise ValueError(f"{shown(raw)} is outside 0001-01-01T00:00:00Z … 9999-12-31T23:59:59Z")
        return text, stamp
    return raw, raw


# --------------------------------------------------------------------------- generation


def route_here(request: GenerateRequest) -> RoutingDecision:
    """The router's decision, knowing what serves here: a request that wants the LLM while no
    model is configured is not sent to it (the reason says so)."""
    decision = route(request)
    if decision.path is GenerationPath.LLM:
        reason = registry.unavailable_reason(GenerationPath.LLM)
        if reason is not None:
            return RoutingDecision(
                GenerationPath.TRADITIONAL,
                f"{decision.reason}, but llm not configured: the llm path {reason}; "
                "schema-driven generation",
                decision.confidence,
            )
    return decision


def generate(
    request: GenerateRequest,
    decision: RoutingDecision | None = None,
    warm: bool = False,
    generator: Generator | None = None,
    tried: str = "",
) -> GenerateResponse:
    """A synchronous response (count ≤ MAX_SYNC_RECORDS), every record validated before it leaves.

    The path that serves is ``generator`` when given (a workflow state's own path: its errors
    propagate to the workflow's Retry and Catch), else the routed one if it can serve here, else
    traditional generation (``tda.paths.registry``); a model path that fails in-process falls
    back to traditional. The metadata says which and why. ``warm``: a long-lived process may
    answer a request with neither seed nor scenarios from records kept warm.
    """
    started = time.perf_counter()
    decision = decision or route_here(request)  # the router has made it already
    plan = plan_request(request, max_count=settings.max_sync_records)
    warm = warm and request.seed is None and not request.scenarios
    fallback = tried
    if generator is not None:
        result = generator.generate(plan, warm=warm)
    else:
        generator, fallback = registry.serving(decision.path)
        try:
            result = generator.generate(plan, warm=warm)
        except (InvalidRequestError, GeneratedInvalidRecordError):
            raise
        except TdaError as exc:
            if generator.path is GenerationPath.TRADITIONAL:
                raise
            fallback = registry.fallback_reason(decision.path, f"failed ({exc})")
            result = registry.traditional().generate(plan, warm=warm)
    data, metadata = finish(result, request.output_format, decision, started, fallback)
    counted = ports_in_use.metrics()
    counted.count(f"Records{result.served_by.value.capitalize()}", len(result.records))
    if result.served_by is not decision.path:
        counted.count(f"Fallback{decision.path.value.capitalize()}")
    return GenerateResponse(
        request_id=request.request_id,
        success=True,
        data=data.decode("utf-8"),
        record_count=len(result.records),
        metadata=metadata,
    )


def with_model_catalog(
    plan: GenerationPlan, decision: RoutingDecision, write: bool = True
) -> tuple[GenerationPlan, LLMReport | None, str]:
    """A bulk plan (a stream, a range, a job) routed to the llm path, with its context's
    catalog (catalog mode: the model writes it once, cached; every part and chunk reads the
    same one: ``write`` False for all but the first step). Whatever goes wrong, the plan stays
    the traditional one and the reason is returned for the response."""
    if decision.path is not GenerationPath.LLM:
        return plan, None, ""
    from tda.paths.llm.generator import LLMGenerator

    generator = registry.generator_for(GenerationPath.LLM)
    if not isinstance(generator, LLMGenerator):
        return plan, None, registry.unavailable_reason(GenerationPath.LLM) or ""
    if generator.unavailable_reason() is not None:
        return plan, None, generator.unavailable_reason() or ""
    try:
        catalog_plan, report = generator.catalog_plan(plan, write)
    except (InvalidRequestError, GeneratedInvalidRecordError):
        raise
    except TdaError as exc:
        return plan, None, f"failed ({exc})"
    return catalog_plan, report, ""


def bulk_metadata(
    plan: GenerationPlan,
    decision: RoutingDecision,
    coherence: CoherenceReport,
    started: float,
    report: LLMReport | None = None,
    failure: str = "",
) -> GenerationMetadata:
    """The metadata of a range, a stream or a job: made by traditional generation in bulk, with
    its rules by construction (every locale × entity is tested, not re-validated) — from the
    shipped vocabulary, or (the llm path's catalog mode) from one the model wrote."""
    if plan.catalog is not None:
        made = PathResult(
            GenerationPath.LLM, plan, [], coherence, tokens=_tokens(report), report=report
        )
        return metadata_for(made, decision, started)
    fallback = ""
    if decision.path is not GenerationPath.TRADITIONAL:
        reason = (
            failure or registry.unavailable_reason(decision.path) or "does not make streams or jobs"
        )
        fallback = registry.fallback_reason(decision.path, reason)
    made = PathResult(GenerationPath.TRADITIONAL, plan, [], coherence)
    return metadata_for(made, decision, started, fallback)


def _tokens(report: LLMReport | None) -> int:
    if report is None:
        return 0
    return (
        report.tokens_input
        + report.tokens_output
        + report.tokens_cache_read
        + report.tokens_cache_write
    )
