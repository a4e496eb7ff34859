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

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tda.domain.catalog import Catalog, catalog_from, load_catalog
from tda.domain.contract import LLMReport
from tda.domain.errors import LLMRequestError, PathUnavailableError
from tda.domain.plan import GenerationPlan
from tda.domain.routing import GenerationPath
from tda.domain.schema.spec import EntitySpec
from tda.paths.base import Generator, PathResult
from tda.paths.llm import prompts
from tda.paths.llm.accounting import Spend, price_table
from tda.paths.llm.answers import UnreadableAnswerError, records_of, without_thinking
from tda.paths.llm.options import LLMOptions
from tda.paths.llm.policy import RetryCounter, call_with_retries, limit_for
from tda.paths.llm.proposals import strict_object
from tda.paths.llm.replay import answer_key, recall, remember
from tda.paths.traditional.providers import review_phrases
from tda.ports.cache import Cache
from tda.ports.model import ModelCall, ModelClient

REVIEW_PHRASES = 8  # titles and body sentences asked for, per sentiment
SENTIMENTS = ("negative", "neutral", "positive")
PERSONA_NAMES = 40  # first and last names asked for
OCCASIONS = 5
_CODE = re.compile(r"[^A-Z]")


_STRINGS = {"type": "array", "items": {"type": "string"}}


def product_schema() -> dict[str, Any]:
    obj, strings = strict_object, _STRINGS
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


def review_schema() -> dict[str, Any]:
    by_sentiment = strict_object({s: _STRINGS for s in SENTIMENTS})
    return strict_object({"titles": by_sentiment, "bodies": by_sentiment})


def persona_schema() -> dict[str, Any]:
    return strict_object({"first_names": _STRINGS, "last_names": _STRINGS})


@dataclass(frozen=True)
class Vocabulary:
    """What a model writes for an entity in catalog mode, and how it becomes a catalog."""

    template: str
    schema: Callable[[], dict[str, Any]]
    cleaned: Callable[[Any, EntitySpec], Catalog]
    prompt_values: Callable[[EntitySpec], dict[str, Any]]


def _product_values(spec: EntitySpec) -> dict[str, Any]:
    return {"occasions": OCCASIONS}


def _review_values(spec: EntitySpec) -> dict[str, Any]:
    return {
        "titles": REVIEW_PHRASES,
        "bodies": REVIEW_PHRASES,
        "title_max": _limit(spec, "title", 120),
        "body_max": _limit(spec, "body", 2000) // 2,
    }


def _limit(spec: EntitySpec, name: str, default: int) -> int:
    found = spec.find(name)
    return found.max_length if found is not None and found.max_length else default


def _products_cleaned(data: Any, spec: EntitySpec) -> Catalog:
    return cleaned(data)


def _reviews_cleaned(data: Any, spec: EntitySpec) -> Catalog:
    """The model's phrases by sentiment, each cut to what its field allows (a body is one or two
    sentences: each at most half the body's length); a sentiment left empty keeps the shipped
    phrases (SmolLM2 wrote titles for two of three, and the whole vocabulary was refused).
    Raises ``LLMRequestError`` when the model wrote none at all."""
    limits = {"titles": _limit(spec, "title", 120), "bodies": _limit(spec, "body", 2000) // 2}
    shipped = review_phrases()
    banks: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}
    written = 0
    for kind, limit in limits.items():
        given = data.get(kind) if isinstance(data, dict) else None
        pairs = []
        for sentiment in SENTIMENTS:
            raw = given.get(sentiment) if isinstance(given, dict) else None
            phrases = [_text(v, limit) for v in raw] if isinstance(raw, list) else []
            kept = tuple(dict.fromkeys(p for p in phrases if p))[:50]
            written += len(kept)
            pairs.append((sentiment, kept or tuple(shipped[kind][sentiment])))
        banks[kind] = tuple(pairs)
    if not written:
        raise LLMRequestError("the model wrote no review titles or bodies")
    bodies = _apart_from(banks["bodies"], {t.casefold() for _, ts in banks["titles"] for t in ts})
    return replace(load_catalog(), review_titles=banks["titles"], review_bodies=bodies)


def _apart_from(
    bank: tuple[tuple[str, tuple[str, ...]], ...], titles: set[str]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Bodies that are not also a title, where a sentiment has others: a small model wrote the
    same sentences as both, and 37% of its reviews had a body equal to their title."""
    kept = []
    for sentiment, phrases in bank:
        other = tuple(p for p in phrases if p.casefold() not in titles)
        kept.append((sentiment, other or phrases))
    return tuple(kept)


def _persona_values(spec: EntitySpec) -> dict[str, Any]:
    return {"names": PERSONA_NAMES}


def _personas_cleaned(data: Any, spec: EntitySpec) -> Catalog:
    """The model's names, trimmed, without duplicates; at least a few of each, else
    ``LLMRequestError``."""
    names: dict[str, tuple[str, ...]] = {}
    for kind in ("first_names", "last_names"):
        raw = data.get(kind) if isinstance(data, dict) else None
        given = [_text(v, 40) for v in raw] if isinstance(raw, list) else []
        kept = tuple(dict.fromkeys(n for n in given if n and any(c.isalpha() for c in n)))
        if len(kept) < 3:
            raise LLMRequestError(f"the model wrote too few usable {kind.replace('_', ' ')}")
        names[kind] = kept[:200]
    return replace(load_catalog(), first_names=names["first_names"], last_names=names["last_names"])


_PRODUCTS = Vocabulary("catalog", product_schema, _products_cleaned, _product_values)
VOCABULARIES = {
    "cart": _PRODUCTS,
    "order": _PRODUCTS,
    "product": _PRODUCTS,
    "review": Vocabulary("review_phrases", review_schema, _reviews_cleaned, _review_values),
    "user": Vocabulary("personas", persona_schema, _personas_cleaned, _persona_values),
}


def supports_catalog(plan: GenerationPlan) -> bool:
    return not plan.spec.custom and plan.spec.name in VOCABULARIES


def catalog_key(client: ModelClient, plan: GenerationPlan) -> str:
    return answer_key(
        kind="catalog",
        version=prompts.config().prompt_version,
        provider=client.provider,
        model=client.model,
        entity=plan.spec.name,
        context=" ".join(plan.brief.context.lower().split()),
    )


def written_catalog(
    client: ModelClient,
    cache: Cache,
    plan: GenerationPlan,
    spend: Spend,
    retries: RetryCounter,
    deadline: float,
    concurrency: tuple[int, int],
    write: bool = True,
) -> tuple[Catalog, bool, bool]:
    """The context's catalog, from the cache or (``write``) written by the model and then
    cached; whether it came from the cache, and whether the model was cut off writing it."""
    vocabulary = VOCABULARIES[plan.spec.name]
    key = catalog_key(client, plan)
    reply = recall(cache, key)
    cached = reply is not None
    if reply is None and not write:
        raise PathUnavailableError("found no catalog stored for this context")
    if reply is None:
        call = ModelCall(
            system=prompts.system_prompt(),
            prompt=prompts.template(vocabulary.template)
            .format(
                entity_type=plan.spec.name,
                context=plan.brief.context.strip() or plan.spec.description,
                **vocabulary.prompt_values(plan.spec),
            )
            .strip(),
            schema=vocabulary.schema(),
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
        data = _finished_part(reply.text) if reply.truncated else None
        if data is None:
            raise LLMRequestError(f"{client.provider} wrote no readable catalog ({exc})") from exc
    catalog = vocabulary.cleaned(data, plan.spec)
    if not cached:
        remember(cache, key, replace(reply, data=data))
    return catalog, cached, reply.truncated


def _finished_part(text: str) -> Any:
    """What a catalog cut off at the output limit holds complete: its JSON read as far as it
    goes (a small model on a CPU wrote 3,600 tokens of one and was stopped), less the object it
    was writing (a product with its name and no price yet would pass as a $1 one); None if
    nothing is there."""
    from pydantic_core import from_json

    text = without_thinking(text)
    start = text.find("{")
    if start < 0:
        return None
    try:
        data = from_json(text[start:], allow_partial=True)  # unfinished strings left out
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    _drop_unfinished(data)
    return data


def _drop_unfinished(data: dict[str, Any]) -> None:
    """Removes the object the answer was cut off in: the deepest one in a list along the last
    path (the last key of each object, the last item of each list)."""
    node: Any = data
    unfinished: tuple[list[Any], int] | None = None
    while isinstance(node, (dict, list)) and node:
        if isinstance(node, dict):
            node = node[next(reversed(node))]
        else:
            if isinstance(node[-1], dict):
                unfinished = (node, len(node) - 1)
            node = node[-1]
    if unfinished is not None:
        holder, index = unfinished
        del holder[index]


def _described(catalog: Catalog) -> str:
    if catalog.first_names:
        return f"{len(catalog.first_names)} first and {len(catalog.last_names)} last names"
    if catalog.review_titles:
        titles = sum(len(p) for _, p in catalog.review_titles)
        bodies = sum(len(p) for _, p in catalog.review_bodies)
        shipped = review_phrases()
        kept = [
            f"{sentiment} {kind}"
            for kind, bank in (("titles", catalog.review_titles), ("bodies", catalog.review_bodies))
            for sentiment, phrases in bank
            if list(phrases) == shipped[kind][sentiment]
        ]
        and_shipped = f" ({', '.join(kept)} from the shipped phrases)" if kept else ""
        return f"review vocabulary of {titles} titles and {bodies} body sentences{and_shipped}"
    return f"catalog of {len(catalog.occasions)} occasions, {len(catalog.products)} products"


def _object_in(text: str) -> Any:
    rows = records_of(None, text)
    return rows[0] if len(rows) == 1 and isinstance(rows[0], dict) else {"occasions": rows}


def cleaned(data: Any) -> Catalog:
    """A model's vocabulary as a catalog the engine can sample: every product with a name (once
    an occasion), a category, a 4-letter code, a price range in whole dollars, sizes and brands;
    occasions with no usable product dropped. Raises ``LLMRequestError`` when nothing usable is left."""
    shipped = load_catalog()
    occasions: dict[str, Any] = {}
    listed = data.get("occasions") if isinstance(data, dict) else None
    for k, occasion in enumerate(listed if isinstance(listed, list) else []):
        if not isinstance(occasion, dict):
            continue
        # Unique by name: a small model repeats one product to its output limit (SmolLM2 wrote
        # the same one 12 times), and baskets of copies are no shopping occasion.
        named: dict[str, dict[str, Any]] = {}
        for product in filter(None, map(_product, occasion.get("products") or [])):
            named.setdefault(product["name"].lower(), product)
        products = list(named.values())
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
    """``value`` on one line, cut to ``limit`` at a word's end where it has spaces (a title cut
    at 120 characters ended "…how they can improve t")."""
    if not isinstance(value, (str, int, float)):
        return ""
    text = " ".join(str(value).split())
    if len(text) <= limit:
        return text
    head, space, _ = text[: limit + 1].rpartition(" ")
    return (head if space and head else text[:limit]).rstrip(" ,;:-")


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
    if not supports_catalog(plan):
        raise PathUnavailableError(
            f"the llm path's catalog mode (above {options.max_llm_records} records or a "
            f"'bulk' hint) covers {', '.join(sorted(VOCABULARIES))}, not {plan.spec.name}"
        )
    spend, retries = Spend(options.token_budget), RetryCounter()
    deadline = time.monotonic() + options.deadline_seconds
    catalog, cached, cut_off = written_catalog(
        client,
        cache,
        plan,
        spend,
        retries,
        deadline,
        (options.start_concurrency, options.max_concurrency),
        write,
    )
    usage = spend.usage
    notes = [
        f"{_described(catalog)} written by the model; records sampled from it by the traditional engine"
    ]
    if cut_off:
        notes.append("the model was cut off at its output limit: the catalog is what it finished")
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
        notes=notes,
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
