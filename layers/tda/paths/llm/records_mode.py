"""Records mode: a model writes the content of up to MAX_LLM_RECORDS records.

The traditional engine makes the records for the same plan and seed (ids, dates, everything the
model does not propose); the count is split into calls sized to the model's output budget and
spread over the provider's adaptive limit; each answer is laid over its record and the core
recomputes what derives from it (``proposals``). A record that breaks its schema goes back to
the model once with its exact errors, then is asked for afresh, then is filled by traditional
generation — labelled ``_filled_by`` and counted. Exact and near duplicates count as broken.
Nothing invalid is ever returned.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import orjson

from tda.domain.bounded_cache import cached_by_size
from tda.domain.coherence import score_records
from tda.domain.contract import LLMReport
from tda.domain.errors import LLMBudgetExceededError, TdaError
from tda.domain.plan import GenerationPlan, stream_seed
from tda.domain.routing import GenerationPath
from tda.domain.schema.spec import EntitySpec
from tda.domain.validation import validate_records
from tda.paths.base import PathResult
from tda.paths.llm import prompts
from tda.paths.llm.accounting import Spend, price_table
from tda.paths.llm.answers import UnreadableAnswerError, records_of
from tda.paths.llm.options import LLMOptions
from tda.paths.llm.policy import RetryCounter, call_with_retries, limit_for
from tda.paths.llm.proposals import (
    Proposal,
    answer_schema,
    overlay,
    proposal_for,
    recompute,
    unlisted_note,
)
from tda.paths.llm.replay import answer_key, recall, remember
from tda.paths.traditional.bulk import stream_records
from tda.ports.cache import Cache
from tda.ports.model import ModelCall, ModelClient, ModelReply

FILLED_LABEL = "_filled_by"
EXAMPLES_PER_CALL = 3
MIN_RECORDS_PER_CALL = 5


def nothing_to_write(plan: GenerationPlan) -> str | None:
    """Why a model would have nothing to write in this plan's records (None: it has some)."""
    proposal = _proposal(plan.spec)
    if proposal.fields or proposal.arrays:
        return None
    if proposal.unlisted:
        listed = ", ".join(f.path for f in proposal.unlisted)
        return f"nothing for a model to write but ENUMs with too many values to list ({listed})"
    return (
        "nothing for a model to write: no free text, number, enum or boolean that is not an "
        "id, a pattern, a format or derived"
    )


# Asked per request, twice (is there anything to write; the run itself), thrice on the hybrid
# path. Bounded: callers' schemas are keys, and a server lives long.
@cached_by_size(1024)
def _proposal(spec: EntitySpec) -> Proposal:
    listed = None if spec.custom else prompts.config().proposes.get(spec.name)
    return proposal_for(spec, listed)


def generate_records(
    plan: GenerationPlan,
    client: ModelClient,
    cache: Cache,
    options: LLMOptions,
    examples: Sequence[Any] = (),
) -> PathResult:
    return _RecordsRun(plan, client, cache, options, examples).run()


class _RecordsRun:
    def __init__(
        self,
        plan: GenerationPlan,
        client: ModelClient,
        cache: Cache,
        options: LLMOptions,
        examples: Sequence[Any],
    ) -> None:
        self.plan, self.client, self.cache = plan, client, cache
        self.options, self.examples = options, examples
        config = prompts.config()
        spec = plan.spec
        self.proposal: Proposal = _proposal(spec)
        self.template = prompts.choose_template(
            prompts.Wants(
                entity=spec.name,
                defect_triggering=plan.brief.defect_triggering,
                coherent=plan.brief.coherent or bool(plan.brief.context.strip()),
                has_examples=bool(examples),
            )
        )
        self.meta_field = config.template_meta.get(self.template)
        self.schema = answer_schema(self.proposal, self.meta_field)
        self.tokens_per_record = config.output_tokens_per_record(spec.name)
        budget = int(config.max_output_tokens * 0.8)
        largest = max(1, min(config.max_records_per_call, budget // self.tokens_per_record))
        self.limit = limit_for(
            self.client.provider,
            self.client.model,
            options.start_concurrency,
            options.max_concurrency,
        )
        # Spread over the calls the provider allows at once (wall time is the slowest call),
        # but never below a few records a call (each call repeats the prompt).
        spread = -(-plan.count // max(1, self.limit.limit))
        self.per_call = min(largest, max(MIN_RECORDS_PER_CALL, spread))
        self.max_tokens = config.max_output_tokens
        self.prompt_version = config.prompt_version
        self.system = prompts.system_prompt()
        self.deadline = time.monotonic() + options.deadline_seconds
        self.spend = Spend(token_budget=options.token_budget)
        self.retries = RetryCounter()
        self.notes: list[str] = [unlisted_note(f) for f in self.proposal.unlisted]
        self.failures: list[Exception] = []

    # -- asking

    def _examples_for(self, first: int) -> Sequence[Any]:
        """A few of the retrieved examples, different ones for each call (one prompt showing
        all of them would teach every call the same few records)."""
        if len(self.examples) <= EXAMPLES_PER_CALL:
            return self.examples
        start = (first // max(1, self.per_call)) * EXAMPLES_PER_CALL
        return [self.examples[(start + j) % len(self.examples)] for j in range(EXAMPLES_PER_CALL)]

    def ask(
        self, first: int, last: int, prompt: str | None = None, attempt: int = 0
    ) -> dict[int, Any]:
        """Answers for records ``first..last`` by their ``_index`` (a truncated answer is
        split in two and asked again)."""
        text = prompt or prompts.user_prompt(
            self.template,
            self.plan,
            self.proposal,
            self.plan.brief.context,
            first,
            last,
            self._examples_for(first),
        )
        wanted = last - first + 1
        call = ModelCall(
            system=self.system,
            prompt=text,
            schema=self.schema,
            max_tokens=min(self.max_tokens, wanted * self.tokens_per_record * 2 + 256),
            temperature=self.options.temperature,
            seed=(self.plan.seed + attempt) & 0x7FFFFFFF,  # a fresh ask is not the same ask
        )
        try:
            reply = self._reply(call, attempt)
        except LLMBudgetExceededError as exc:
            self._note(str(exc))
            return {}
        except TdaError as exc:
            self.failures.append(exc)
            return {}
        if reply.truncated and last > first:
            middle = (first + last) // 2
            return {
                **self.ask(first, middle, attempt=attempt),
                **self.ask(middle + 1, last, attempt=attempt),
            }
        try:
            rows = records_of(reply.data, reply.text)
        except UnreadableAnswerError as exc:
            self._note(f"an answer was unreadable ({exc})")
            return {}
        return _by_index(rows, first, last)

    def _reply(self, call: ModelCall, attempt: int) -> ModelReply:
        key = answer_key(
            version=self.prompt_version,
            provider=self.client.provider,
            model=self.client.model,
            seed=self.plan.seed,
            system=call.system,
            prompt=call.prompt,
            schema=call.schema,
            temperature=call.temperature,
            attempt=attempt,
        )
        if self.plan.brief.use_cache:
            cached = recall(self.cache, key)
            if cached is not None:
                self.spend.add_call(cached.usage, cached.model, cached=True)
                return cached
        estimate = call.max_tokens + (len(call.system) + len(call.prompt)) // 4
        self.spend.reserve(estimate)
        try:
            reply = call_with_retries(
                self.client,
                call,
                deadline=self.deadline,
                limit=self.limit,
                call_timeout=self.options.call_timeout_seconds,
                counter=self.retries,
                owner=self,  # its fair share of the provider's slots
            )
        finally:
            self.spend.release(estimate)
        self.spend.add_call(reply.usage, reply.model, cached=False)
        remember(self.cache, key, reply)
        return reply

    def ask_many(self, ranges: list[tuple[int, int]], attempt: int = 0) -> dict[int, Any]:
        answers: dict[int, Any] = {}
        if len(ranges) == 1:  # no thread to start for one call
            return self.ask(ranges[0][0], ranges[0][1], attempt=attempt)
        workers = max(1, min(len(ranges), self.options.max_concurrency))
        with ThreadPoolExecutor(workers, thread_name_prefix="tda-llm") as pool:
            for found in pool.map(lambda r: self.ask(r[0], r[1], attempt=attempt), ranges):
                answers.update(found)
        return answers

    # -- the run

    def run(self) -> PathResult:
        plan = self.plan
        # The records the model's answers are laid over (unscored: they are scored once merged).
        base = [record for batch in stream_records(plan, score=False) for record in batch.records]
        fixed = _fixed_paths(plan)
        rng = np.random.default_rng(stream_seed(plan.seed, 0x11A))
        answers = self.ask_many(_ranges(range(plan.count), self.per_call))
        if not answers and self.failures:
            raise self.failures[0]  # the provider failed outright: the workflow falls back
        records = list(base)
        merged, broken = self._merge(answers, base, fixed, rng, range(plan.count))
        records_by_index = dict(merged)

        repairable = {i: answers[i] for i in broken if i in answers}
        if repairable:
            repaired = self._repair(repairable, broken)
            fixed_now, broken_again = self._merge(repaired, base, fixed, rng, repairable)
            records_by_index.update(fixed_now)
            self.spend.repairs += len(fixed_now)
            broken = {i: e for i, e in broken.items() if i not in fixed_now} | broken_again
        if broken:
            wanted = sorted(broken)
            fresh = self.ask_many(_runs(wanted, self.per_call), attempt=1)
            again, still = self._merge(fresh, base, fixed, rng, wanted)
            records_by_index.update(again)
            self.spend.regenerated += len(again)
            broken = {i: e for i, e in broken.items() if i not in again} | still
        if broken:
            self._note(_why_filled(broken))
        records_by_index, duplicates = _without_duplicates(records_by_index, self.proposal)
        if duplicates:
            self._note(f"{duplicates} duplicate record(s) replaced by traditional generation")
        for i in range(plan.count):
            if i in records_by_index:
                records[i] = records_by_index[i]
            else:
                records[i] = {**base[i], FILLED_LABEL: "traditional"}
        if self.failures:
            self._note(f"{len(self.failures)} call(s) failed: {self.failures[0]}")
        filled = plan.count - len(records_by_index)
        report = self._report(len(records_by_index), filled, len(records_by_index) + duplicates)
        return PathResult(
            GenerationPath.LLM,
            plan,
            records,
            score_records(plan.spec, records),
            tokens=self.spend.usage.total,
            report=report,
        )

    def _merge(
        self,
        answers: dict[int, Any],
        base: list[dict[str, Any]],
        fixed: list[frozenset[str]],
        rng: np.random.Generator,
        indices: Any,
    ) -> tuple[dict[int, dict[str, Any]], dict[int, list[str]]]:
        merged: dict[int, dict[str, Any]] = {}
        broken: dict[int, list[str]] = {}
        for i in indices:
            if i not in answers:
                broken[i] = ["no record was written for this _index"]
                continue
            record, errors = overlay(self.proposal, base[i], answers[i], fixed[i], self.meta_field)
            if errors:
                broken[i] = errors
            else:
                merged[i] = record
        if merged:
            order = sorted(merged)
            recompute(
                self.plan, self.proposal, [merged[i] for i in order], [fixed[i] for i in order], rng
            )
            report = validate_records(self.plan.spec, [merged[i] for i in order])
            for issue in report.issues:
                i = order[issue.index]
                broken.setdefault(i, []).append(f"{issue.field}: {issue.message}")
                merged.pop(i, None)
        return merged, broken

    def _repair(self, answers: dict[int, Any], broken: dict[int, list[str]]) -> dict[int, Any]:
        indices = sorted(answers)
        groups = [indices[k : k + self.per_call] for k in range(0, len(indices), self.per_call)]
        repaired: dict[int, Any] = {}

        def one(group: list[int]) -> dict[int, Any]:
            prompt = prompts.repair_prompt(self.proposal, [(answers[i], broken[i]) for i in group])
            found = self.ask(group[0], group[-1], prompt=prompt, attempt=2)
            return {i: v for i, v in found.items() if i in group}

        with ThreadPoolExecutor(max(1, min(len(groups), self.options.max_concurrency))) as pool:
            for found in pool.map(one, groups):
                repaired.update(found)
        return repaired

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _report(self, from_model: int, filled: int, written: int) -> LLMReport:
        usage = self.spend.usage
        calls = self.spend.calls
        return LLMReport(
            mode="records",
            provider=self.client.provider,
            model=self.client.model,
            template=self.template,
            calls=calls,
            cached_calls=self.spend.cached_calls,
            cache_hit=calls == 0 and self.spend.cached_calls > 0,
            retries=self.retries.retries,
            repairs=self.spend.repairs,
            regenerated=self.spend.regenerated,
            records_from_model=from_model,
            records_filled=filled,
            unique_ratio=round(from_model / written, 4) if written else 1.0,
            tokens_input=usage.input,
            tokens_output=usage.output,
            tokens_cache_read=usage.cache_read,
            tokens_cache_write=usage.cache_write,
            cost_usd=round(self.spend.cost(), 6),
            price_table=str(price_table()["version"]),
            notes=list(self.notes),
        )


def _why_filled(broken: dict[int, list[str]]) -> str:
    """Why records were filled by traditional generation: the first few records' first error
    (a caller sees which field the model kept getting wrong, not only a count)."""
    shown = [f"record {i}: {errors[0][:200]}" for i, errors in sorted(broken.items())[:3]]
    more = f"; {len(broken) - len(shown)} more" if len(broken) > len(shown) else ""
    return (
        f"{len(broken)} record(s) filled by traditional generation, the model's invalid "
        f"or missing ({'; '.join(shown)}{more})"
    )


def _by_index(rows: list[Any], first: int, last: int) -> dict[int, Any]:
    """Answers by the ``_index`` they name when it is one of ours and new, else by position."""
    found: dict[int, Any] = {}
    loose = []
    for row in rows:
        index = row.get("_index") if isinstance(row, dict) else None
        if (
            isinstance(index, int)
            and not isinstance(index, bool)
            and first <= index <= last
            and index not in found
        ):
            found[index] = row
        else:
            loose.append(row)
    free = (i for i in range(first, last + 1) if i not in found)
    for row, i in zip(loose, free, strict=False):
        found[i] = row
    return found


def _ranges(indices: range, size: int) -> list[tuple[int, int]]:
    return [(k, min(k + size, indices.stop) - 1) for k in range(indices.start, indices.stop, size)]


def _runs(indices: list[int], size: int) -> list[tuple[int, int]]:
    """Consecutive indices as ranges of at most ``size``."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1 and i - runs[-1][0] < size:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _fixed_paths(plan: GenerationPlan) -> list[frozenset[str]]:
    per_scenario = [frozenset(o.path for o in s.overrides) for s in plan.scenarios]
    return [per_scenario[label] for label in plan.labels(0, plan.count).tolist()]


# Bytes to lower-case letters and digits, anything else to a space (a regex's sub was ≈20 µs a
# record, most of the check).
_WORDS_ONLY = bytes(
    b + 32 if 65 <= b <= 90 else b if 48 <= b <= 57 or 97 <= b <= 122 else 32 for b in range(256)
)


def _as_bytes(values: list[Any]) -> bytes:
    # orjson: repr of a cart's items was ≈20 µs a record; an int past 64 bits it refuses.
    try:
        return orjson.dumps(values, default=str)
    except orjson.JSONEncodeError:
        return repr(values).encode()


def _without_duplicates(
    records: dict[int, dict[str, Any]], proposal: Proposal
) -> tuple[dict[int, dict[str, Any]], int]:
    """Records whose proposed content repeats an earlier one's (exactly, or but for case,
    spacing and punctuation) are dropped; how many were."""
    seen: set[bytes] = set()
    kept: dict[int, dict[str, Any]] = {}
    names = [f.name for f in proposal.fields] + [a.name for a, _ in proposal.arrays]
    for i in sorted(records):
        record = records[i]
        key = b" ".join(_as_bytes([record.get(n) for n in names]).translate(_WORDS_ONLY).split())
        if key in seen:
            continue
        seen.add(key)
        kept[i] = record
    return kept, len(records) - len(kept)
