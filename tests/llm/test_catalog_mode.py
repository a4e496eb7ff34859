"""Catalog mode: for a context above MAX_LLM_RECORDS (or a "bulk" hint) the model writes the
context's vocabulary once and the traditional engine makes any count from it — valid, with
exact arithmetic, every basket from one of the model's occasions, and a few calls in all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from tda.app.requests import plan_range
from tda.app.service import generate, plan_request, route_here, with_model_catalog
from tda.domain.coherence import score_records
from tda.domain.contract import GenerateRequest, OutputFormat
from tda.domain.schema.registry import get_entity
from tda.domain.validation import validate_records
from tda.paths.traditional.bulk import stream_output
from tda_local.cli import main

from .scripted import Transport, chat_text, status

MARATHON = "carts for runners training for their first marathon"


def test_100k_context_carts_come_from_one_model_call(openai_model: Transport) -> None:
    request = GenerateRequest(
        entity="cart", count=100_000, seed=3, context=MARATHON, output_format=OutputFormat.NDJSON
    )
    decision = route_here(request)
    assert decision.path.value == "llm" and "catalog mode" in decision.reason
    plan, report, failure = with_model_catalog(plan_request(request), decision)
    assert failure == "" and report is not None and plan.catalog is not None
    assert (report.mode, report.calls, report.cache_hit) == ("catalog", 1, False)
    body = b"".join(stream_output(plan, OutputFormat.NDJSON, []))
    carts = [orjson.loads(line) for line in body.splitlines()]
    assert len(carts) == 100_000
    assert validate_records(get_entity("cart"), carts).valid
    model_categories = {p.category for p in plan.catalog.products}
    # Every rule holds, one occasion a basket included, judged by the model's own vocabulary.
    assert score_records(get_entity("cart"), carts, plan.catalog).score == 1.0
    for cart in carts[::97]:
        assert {i["category"] for i in cart["items"]} <= model_categories
        lines = [round(i["price"] * 100) * i["quantity"] for i in cart["items"]]
        assert round(cart["subtotal"] * 100) == sum(lines)
        assert round(cart["total"] * 100) == round(cart["subtotal"] * 100) + round(
            cart["tax"] * 100
        )
    assert openai_model.calls == 1
    # The next request for the same context (another seed) reads the stored catalog: no call.
    again = GenerateRequest(entity="cart", count=50_000, seed=4, context=MARATHON)
    _, report, _ = with_model_catalog(plan_request(again), route_here(again))
    assert report is not None and report.cache_hit and openai_model.calls == 1


def test_the_cli_names_the_path_that_made_a_bulk_request_and_why_the_model_did_not(
    openai_model: Transport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It printed "note: failed (openai: ...)", naming neither the path nor what served.
    out = tmp_path / "carts.json"
    args = ["generate", "cart", "--count", "5000", "--context", MARATHON, "-o", str(out)]
    assert main([*args, "--seed", "1"]) == 0
    assert "(path llm, seed 1," in capsys.readouterr().err
    openai_model.then(status(400), status(400))
    args[5] = "carts for trail runners"  # another context: no catalog stored for it
    assert main([*args, "--seed", "2"]) == 0
    err = capsys.readouterr().err
    assert "note: the llm path failed (openai answered HTTP 400" in err
    assert "; served by traditional generation\n" in err and "(path traditional, seed 2," in err
    assert len(json.loads(out.read_bytes())) == 5000


def test_a_synchronous_bulk_request_is_served_from_the_catalog(openai_model: Transport) -> None:
    response = generate(
        GenerateRequest(entity="order", count=800, seed=1, context=MARATHON, hints=["bulk"])
    )
    meta = response.metadata
    assert meta.generation_path == "llm" and meta.llm is not None and meta.llm.mode == "catalog"
    orders = json.loads(response.data)
    assert len(orders) == 800 and validate_records(get_entity("order"), orders).valid
    assert meta.coherence_score == 1.0


def test_a_streams_later_parts_read_the_catalog_its_first_part_wrote(
    openai_model: Transport,
) -> None:
    payload: dict[str, Any] = {"entity": "cart", "count": 3000, "seed": 8, "context": MARATHON}
    later = plan_range(payload, 1000, 1000)  # nothing stored yet: not its place to write one
    assert later.plan.catalog is None and "no catalog stored" in later.failure
    first = plan_range(payload, 0, 1000, first_step=True)
    assert first.plan.catalog is not None and openai_model.calls == 1
    later = plan_range(payload, 1000, 1000)
    assert later.plan.catalog == first.plan.catalog and openai_model.calls == 1


def test_an_unusable_catalog_falls_back_to_the_shipped_one_and_says_why(
    openai_model: Transport,
) -> None:
    openai_model.then(chat_text('{"occasions": [{"name": "x", "products": []}]}'))
    request = GenerateRequest(entity="cart", count=2000, seed=2, context="carts of nothing at all")
    plan, report, failure = with_model_catalog(plan_request(request), route_here(request))
    assert plan.catalog is None and report is None
    assert "no usable products" in failure


def product(name: str, category: str, low: int, high: int) -> dict[str, Any]:
    return {"name": name, "category": category, "code": name[:4].upper(), "price_low": low,
            "price_high": high, "sizes": ["9", "10"], "brands": ["Brooks"]}  # fmt: skip


def test_a_catalog_cut_off_at_the_output_limit_is_used_as_far_as_it_was_finished(
    openai_model: Transport,
) -> None:
    # SmolLM2 on llama.cpp wrote 3,600 tokens of a catalog and was stopped: "not JSON", and
    # the whole request fell back to the shipped catalog. It had written one product 12 times:
    # a product is kept once an occasion.
    race = {
        "name": "race day",
        "keywords": ["race"],
        "products": [
            product("Road Racing Shoes", "Running Shoes", 90, 180),
            product("Energy Gels", "Nutrition", 2, 5),
            product("ENERGY GELS", "Nutrition", 2, 5),
        ],
    }
    rest = {
        "name": "recovery",
        "keywords": ["rest"],
        "products": [product("Foam Roller", "Recovery", 20, 40)],
    }
    text = json.dumps({"occasions": [race, rest]})
    cut = text[: text.index('"price_high": 40')]  # the foam roller has no top price yet
    openai_model.then(chat_text(cut, finish_reason="length"))
    request = GenerateRequest(entity="cart", count=2000, seed=2, context="carts for a 10K race")
    plan, report, failure = with_model_catalog(plan_request(request), route_here(request))
    assert failure == "" and report is not None and plan.catalog is not None
    names = [p.name for p in plan.catalog.products]
    assert sorted(names) == ["Energy Gels", "Road Racing Shoes"]
    assert "cut off at its output limit" in report.notes[-1]
    body = b"".join(stream_output(plan, OutputFormat.JSON, []))
    assert validate_records(get_entity("cart"), json.loads(body)).valid
    # Cut off before any product was finished: nothing to use, and said so.
    openai_model.then(chat_text(text[: text.index('"price_low"')], finish_reason="length"))
    again = GenerateRequest(entity="cart", count=2000, seed=2, context="carts for a 5K race")
    plan, report, failure = with_model_catalog(plan_request(again), route_here(again))
    assert plan.catalog is None and "no usable products" in failure
    # A reasoning model's thinking first, braces and all: the catalog after it is read.
    thinking = '<think>{"occasions": maybe race and recovery}</think>\n'
    openai_model.then(chat_text(thinking + cut, finish_reason="length"))
    third = GenerateRequest(entity="cart", count=2000, seed=2, context="carts for a half marathon")
    plan, report, failure = with_model_catalog(plan_request(third), route_here(third))
    assert failure == "" and plan.catalog is not None
    assert sorted(p.name for p in plan.catalog.products) == sorted(names)


def test_reviews_in_bulk_come_from_a_model_written_vocabulary(openai_model: Transport) -> None:
    request = GenerateRequest(
        entity="review",
        count=20_000,
        seed=2,
        context="reviews of trail running shoes",
        output_format=OutputFormat.NDJSON,
    )
    plan, report, failure = with_model_catalog(plan_request(request), route_here(request))
    assert failure == "" and report is not None and "review vocabulary" in report.notes[0]
    body = b"".join(stream_output(plan, OutputFormat.NDJSON, []))
    reviews = [orjson.loads(line) for line in body.splitlines()]
    assert len(reviews) == 20_000 and validate_records(get_entity("review"), reviews).valid
    titles = dict(plan.catalog.review_titles) if plan.catalog else {}
    for review in reviews[::101]:
        sentiment = (
            "negative"
            if review["rating"] <= 2
            else "neutral"
            if review["rating"] == 3
            else "positive"
        )
        assert review["title"] in titles[sentiment]  # the model's words, by the rating's tone
    assert openai_model.calls == 1


def test_users_in_bulk_are_the_contexts_people(openai_model: Transport) -> None:
    response = generate(
        GenerateRequest(entity="user", count=700, seed=2, context="loyal shoppers in Ohio")
    )
    meta = response.metadata
    assert meta.generation_path == "llm" and meta.llm is not None and meta.llm.mode == "catalog"
    users = json.loads(response.data)
    assert validate_records(get_entity("user"), users).valid and meta.coherence_score == 1.0
    assert {u["last_name"] for u in users} <= {
        "Kowalczyk",
        "Yoder",
        "Hostetler",
        "Washington",
        "Schmidt",
        "Miller",
    }
    # emails follow the model's names (the email rule holds by construction)
    assert all(
        u["last_name"].lower() in u["email"] or u["first_name"].lower() in u["email"] for u in users
    )


def test_catalog_mode_does_not_cover_payments_and_says_so(openai_model: Transport) -> None:
    response = generate(
        GenerateRequest(entity="payment", count=700, seed=2, context="payments at a ski shop")
    )
    meta = response.metadata
    assert meta.generation_path == "traditional" and meta.routed_path == "llm"
    assert "catalog mode" in meta.fallback_reason and "not payment" in meta.fallback_reason


def test_a_review_vocabulary_gives_no_body_equal_to_its_title_nor_a_word_cut(
    openai_model: Transport,
) -> None:
    # SmolLM2 wrote the same sentences as titles and as bodies: 18,346 of 50,000 reviews had
    # a body equal to their title. A 130-character title was cut to 120 in the middle of a word.
    long = "This product has a lot of flaws that are hard to fix and the customer support never answered any of the emails I sent them"
    same = "You should try this again and make it your own!"
    bank = {
        "negative": [long, "Poor fit."],
        "neutral": [same, "It is fine."],
        "positive": [same, "Great shoes!"],
    }
    bodies = {k: [same, f"{v[1]} Would buy again."] for k, v in bank.items()}
    openai_model.then(chat_text(json.dumps({"titles": bank, "bodies": bodies})))
    request = GenerateRequest(entity="review", count=5000, seed=3, context="reviews of trail shoes")
    plan, _, failure = with_model_catalog(plan_request(request), route_here(request))
    assert failure == "" and plan.catalog is not None
    titles = dict(plan.catalog.review_titles)
    assert long[:120] not in titles["negative"]
    cut = next(t for t in titles["negative"] if t.startswith("This product"))
    assert long.startswith(cut) and long[len(cut)] == " " and len(cut) <= 120
    body = b"".join(stream_output(plan, OutputFormat.NDJSON, []))
    reviews = [orjson.loads(line) for line in body.splitlines()]
    assert validate_records(get_entity("review"), reviews).valid
    assert not [r for r in reviews if r["title"] == r["body"]]


def test_submitting_a_context_job_asks_no_model(
    openai_model: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    # POST /v1/jobs had the model write the context's catalog while the caller waited: 60 s
    # with SmolLM2 (its call timeout), past API Gateway's 30 s. The plan step writes it.
    from tda.app import job_api, jobs, ports_in_use
    from tda.ports.chunk_store import InMemoryChunkStore

    from ..unit.runners import RunningRunner

    store = InMemoryChunkStore()
    monkeypatch.setenv("JOB_STATE_MACHINE_ARN", "arn:states:jobs")
    real = ports_in_use.installed()
    ports_in_use.install(
        ports_in_use.PortsInUse(chunk_store=lambda: store, workflow=lambda: RunningRunner())
    )
    try:
        request = {"entity": "cart", "count": 20_000, "seed": 4, "context": "carts for a ski trip"}
        job_id = str(job_api.submit(request)["job_id"])
        assert openai_model.calls == 0
        plan = jobs.plan_and_mark(job_id, request)  # the workflow's PlanJob step
        assert openai_model.calls == 1 and plan["catalog_failure"] == ""
    finally:
        ports_in_use.install(real)


def test_a_review_vocabulary_missing_a_sentiment_keeps_the_models_others(
    openai_model: Transport,
) -> None:
    # SmolLM2 wrote titles for two sentiments of three: the whole vocabulary was refused ("the
    # model's review titles miss a sentiment") and 600 kettle reviews came from the shipped
    # phrases. The missing sentiment takes the shipped phrases; the note says which.
    titles = {"negative": ["Kettle leaks"], "positive": ["Boils in a minute"]}
    bodies = {s: [f"A {s} word about the kettle."] for s in ("negative", "neutral", "positive")}
    openai_model.then(chat_text(json.dumps({"titles": titles, "bodies": bodies})))
    request = GenerateRequest(entity="review", count=600, seed=3, context="reviews of kettles")
    plan, report, failure = with_model_catalog(plan_request(request), route_here(request))
    assert failure == "" and plan.catalog is not None and report is not None
    written = dict(plan.catalog.review_titles)
    assert written["negative"] == ("Kettle leaks",) and written["positive"] == (
        "Boils in a minute",
    )
    assert written["neutral"] and "Kettle leaks" not in written["neutral"]  # the shipped ones
    assert "neutral titles from the shipped phrases" in report.notes[0]
    # Nothing from the model at all is still refused.
    openai_model.then(chat_text(json.dumps({"titles": {}, "bodies": {}})))
    other = GenerateRequest(entity="review", count=600, seed=3, context="reviews of toasters")
    _, _, failure = with_model_catalog(plan_request(other), route_here(other))
    assert "review" in failure
