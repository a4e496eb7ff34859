"""Catalog mode: context-aware data at bulk speed.

For a context above MAX_LLM_RECORDS (or a "bulk" hint) the model does not write records: it
writes, once, the vocabulary of the context — shopping occasions with the products that go
together, their categories, price ranges, sizes and brands — in the shape of the shipped
``data/catalog.yaml``. That vocabulary is checked and cleaned here, and the traditional engine
samples from it exactly as it samples the shipped one, so every rule (exact cents, dates,
one occasion a basket) holds by construction, at the engine's speed, for any count.

A catalog is always cached (keyed by context, entity, model and prompt version, not the seed):
the next request for the same context, every chunk of a job and every part of a stream read
the same one, and replaying costs no call.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, replace
from typing import Any

from tda.domain.catalog import Catalog, catalog_from, load_catalog
from tda.domain.contract import LLMReport
from tda.domain.errors import LLMRequestError, PathUnavailableError
from tda.domain.plan import GenerationPlan
from tda.domain.routing import GenerationPath
from tda.paths.base import Generator, PathResult
from tda.paths.llm import prompts
from tda.paths.llm.accounting import Spend, price_table
from tda.paths.llm.answers import UnreadableAnswerError, records_of
from tda.paths.llm.options import LLMOptions
from tda.paths.llm.policy import RetryCounter, call_with_retries, limit_for
from tda.paths.llm.replay import answer_key, recall, remember
from tda.ports.cache import Cache
from tda.ports.model import ModelCall, ModelClient

CATALOG_ENTITIES = frozenset({"cart", "order", "product"})
OCCASIONS = 5
_CODE = re.compile(r"[^A-Z]")


def supports_catalog(plan: GenerationPlan) -> bool:
    return not plan.spec.custom and plan.spec.name in CATALOG_ENTITIES


def catalog_schema() -> dict[str, Any]:
    def obj(properties: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        }

    strings = {"type": "array", "items": {"type": "string"}}
    product = obj(
        {
            "name": {"type": "string"},
            "category": {"type": "string"},
            "code": {"type": "string"},
            "price_low": {"type": "integer"},
            "price_high": {"type": "integer"},
            "sizes": strings,
            "brands": strings,
        }
    )
    occasion = obj(
        {
            "name": {"type": "string"},
            "keywords": strings,
            "products": {"type": "array", "items": product},
        }
    )
    return obj({"occasions": {"type": "array", "items": occasion}})


def catalog_key(client: ModelClient, plan: GenerationPlan) -> str:
    return answer_key(
        kind="catalog",
        version=prompts.config().prompt_version,
        provider=client.provider,
        model=client.model,
        entity=plan.spec.name,
        context=" ".join(plan.brief.context.lower().split()),
    )


def stored_catalog(cache: Cache, client: ModelClient, plan: GenerationPlan) -> Catalog | None:
    reply = recall(cache, catalog_key(client, plan))
    if reply is None:
        return None
    try:
        return cleaned(reply.data if reply.data is not None else json.loads(reply.text))
    except (LLMRequestError, ValueError):
        return None


def written_catalog(
    client: ModelClient,
    cache: Cache,
    plan: GenerationPlan,
    spend: Spend,
    retries: RetryCounter,
    deadline: float,
    concurrency: tuple[int, int],
) -> tuple[Catalog, bool]:
    """The context's catalog, from the cache or written by the model (and then cached);
    whether it came from the cache."""
    key = catalog_key(client, plan)
    reply = recall(cache, key)
    cached = reply is not None
    if reply is None:
        call = ModelCall(
            system=prompts.system_prompt(),
            prompt=prompts.template("catalog")
            .format(
                entity_type=plan.spec.name,
                context=plan.brief.context.strip() or plan.spec.description,
                occasions=OCCASIONS,
            )
            .strip(),
            schema=catalog_schema(),
            max_tokens=prompts.config().max_output_tokens,
            temperature=0.2,
        )
        spend.reserve(0)  # a catalog is one call: it starts unless the budget is spent
        reply = call_with_retries(
            client,
            call,
            deadline=deadline,
            limit=limit_for(client.provider, client.model, *concurrency),
            call_timeout=max(1.0, deadline - time.monotonic()),
            counter=retries,
        )
    spend.add_call(reply.usage, reply.model, cached=cached)
    try:
        data = reply.data if reply.data is not None else _object_in(reply.text)
    except UnreadableAnswerError as exc:
        raise LLMRequestError(f"{client.provider} wrote no readable catalog ({exc})") from exc
    catalog = cleaned(data)
    if not cached:
        remember(cache, key, replace(reply, data=data))
    return catalog, cached


def _object_in(text: str) -> Any:
    rows = records_of(None, text)
    return rows[0] if len(rows) == 1 and isinstance(rows[0], dict) else {"occasions": rows}


def cleaned(data: Any) -> Catalog:
    """A model's vocabulary as a catalog the engine can sample: every product with a name, a
    category, a 4-letter code, a price range in whole dollars, sizes and brands; occasions with
    no usable product dropped. Raises ``LLMRequestError`` when nothing usable is left."""
    shipped = load_catalog()
    occasions: dict[str, Any] = {}
    listed = data.get("occasions") if isinstance(data, dict) else None
    for k, occasion in enumerate(listed if isinstance(listed, list) else []):
        if not isinstance(occasion, dict):
            continue
        products = [p for p in map(_product, occasion.get("products") or []) if p]
        if not products:
            continue
        name = _text(occasion.get("name"), 40) or f"occasion_{k}"
        keywords = [
            w.lower() for w in map(lambda v: _text(v, 30), occasion.get("keywords") or []) if w
        ]
        occasions[name if name not in occasions else f"{name}_{k}"] = {
            "keywords": keywords[:12] or [name.lower()],
            "products": products[:12],
        }
        if len(occasions) >= 12:
            break
    if not occasions:
        raise LLMRequestError("the model's catalog had no usable products")
    return catalog_from(
        {
            "occasions": occasions,
            "colors": [list(c) for c in shipped.colors],
            "adjectives": list(shipped.adjectives),
            "features": list(shipped.features),
        }
    )


def _text(value: Any, limit: int) -> str:
    return " ".join(str(value).split())[:limit] if isinstance(value, (str, int, float)) else ""


def _product(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    name, category = _text(raw.get("name"), 60), _text(raw.get("category"), 40)
    if not name or not category:
        return None
    code = _CODE.sub("", str(raw.get("code") or "").upper())[:4]
    if len(code) < 2:
        code = (_CODE.sub("", name.upper()) + "XXXX")[:4]
    try:
        low = int(float(raw.get("price_low") or raw.get("price", [0])[0]))
        high = int(float(raw.get("price_high") or raw.get("price", [0, 0])[1]))
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    low = min(max(low, 1), 100_000)
    high = min(max(high, low), 100_000)
    sizes = [s for s in (_text(v, 8) for v in raw.get("sizes") or []) if s][:8] or ["OS"]
    brands = [b for b in (_text(v, 30) for v in raw.get("brands") or []) if b][:6]
    brands = [b for b in brands if re.search(r"[A-Za-z]", b)] or ["House Brand"]
    return {
        "name": name,
        "category": category,
        "code": code,
        "price": [low, high],
        "sizes": sizes,
        "brands": brands,
    }


@dataclass(frozen=True)
class CatalogPlan:
    plan: GenerationPlan  # with the catalog
    report: LLMReport
    tokens: int


def catalog_for_plan(
    plan: GenerationPlan,
    client: ModelClient,
    cache: Cache,
    options: LLMOptions,
    write: bool = True,
) -> CatalogPlan:
    if not write and stored_catalog(cache, client, plan) is None:
        raise PathUnavailableError("found no catalog stored for this context")
    if not supports_catalog(plan):
        raise PathUnavailableError(
            f"the llm path's catalog mode (above {options.max_llm_records} records or a "
            f"'bulk' hint) covers {', '.join(sorted(CATALOG_ENTITIES))}, not {plan.spec.name}"
        )
    spend, retries = Spend(options.token_budget), RetryCounter()
    deadline = time.monotonic() + options.deadline_seconds
    catalog, cached = written_catalog(
        client,
        cache,
        plan,
        spend,
        retries,
        deadline,
        (options.start_concurrency, options.max_concurrency),
    )
    usage = spend.usage
    report = LLMReport(
        mode="catalog",
        provider=client.provider,
        model=client.model,
        template="catalog",
        calls=spend.calls,
        cached_calls=spend.cached_calls,
        cache_hit=cached,
        retries=retries.retries,
        tokens_input=usage.input,
        tokens_output=usage.output,
        tokens_cache_read=usage.cache_read,
        tokens_cache_write=usage.cache_write,
        cost_usd=round(spend.cost(), 6),
        price_table=str(price_table()["version"]),
        notes=[
            f"catalog of {len(catalog.occasions)} occasions, {len(catalog.products)} products "
            "written by the model; records sampled from it by the traditional engine"
        ],
    )
    return CatalogPlan(replace(plan, catalog=catalog, window=None), report, usage.total)


def generate_from_catalog(
    plan: GenerationPlan,
    client: ModelClient,
    cache: Cache,
    traditional: Generator,
    options: LLMOptions,
) -> PathResult:
    made = catalog_for_plan(plan, client, cache, options)
    result = traditional.generate(made.plan, warm=False)
    return replace(result, served_by=GenerationPath.LLM, tokens=made.tokens, report=made.report)
