"""The LLM path's records mode through the real SDKs (scripted transport): what the model
writes, what the core computes, and every way a model's answer goes wrong — none of which may
return an invalid record."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from tda.adapters.model_clients import GRAMMAR_MAX_LENGTH
from tda.app.service import generate
from tda.domain.contract import GenerateRequest, GenerateResponse
from tda.domain.schema.registry import get_entity
from tda.domain.validation import validate_records
from tda_local import scripted_model

from .scripted import Answer, Transport, chat_records, chat_text, scripted_client

FITNESS = "carts for fitness enthusiasts preparing for a marathon"


def ask(**fields: Any) -> GenerateResponse:
    fields.setdefault("seed", 11)
    return generate(GenerateRequest.model_validate(fields))


def records_of(response: GenerateResponse) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(response.data)
    return records


def cents(value: float) -> int:
    return round(value * 100)


def assert_cart_math(cart: dict[str, Any]) -> None:
    lines = [cents(i["price"]) * i["quantity"] for i in cart["items"]]
    assert [cents(i["line_total"]) for i in cart["items"]] == lines
    assert cents(cart["subtotal"]) == sum(lines)
    assert cents(cart["total"]) == cents(cart["subtotal"]) + cents(cart["tax"])


def test_the_model_writes_the_items_and_the_core_the_ids_and_the_arithmetic(
    openai_model: Transport,
) -> None:
    response = ask(entity="cart", count=10, context=FITNESS, hints=["realistic", "coherent"])
    meta = response.metadata
    assert (meta.generation_path, meta.fallback_reason) == ("llm", "")
    carts = records_of(response)
    assert validate_records(get_entity("cart"), carts).valid
    for cart in carts:
        assert_cart_math(cart)
        assert cart["cart_id"].startswith("CRT-")
        assert "_shopping_occasion" in cart  # the coherent template's field
    names = {item["name"] for cart in carts for item in cart["items"]}
    assert any("Running" in name for name in names)  # the model's words, not the catalog's
    llm = meta.llm
    assert llm is not None
    # 10 records over the provider's 4 concurrent calls: 2 calls of 5 (the fewest a call takes)
    assert (llm.mode, llm.provider, llm.template, llm.calls) == ("records", "openai", "coherent", 2)
    assert llm.records_from_model == 10 and llm.records_filled == 0 and llm.unique_ratio == 1.0
    assert llm.tokens_input > 0 and llm.tokens_output > 0
    assert meta.llm_tokens_used == llm.tokens_input + llm.tokens_output
    sent = openai_model.seen[0]
    assert sent["response_format"]["type"] == "json_object" and "schema" in sent["response_format"]
    assert sent["model"] and isinstance(sent["seed"], int) and sent["max_tokens"] > 0
    assert isinstance(sent["temperature"], float)
    assert (
        sent["messages"][0]["role"] == "system"
        and "DOMAIN KNOWLEDGE" in sent["messages"][0]["content"]
    )


def asked_for(sent: dict[str, Any]) -> dict[str, Any]:
    """A record's properties in the schema an OpenAI-compatible call was sent."""
    schema = sent["response_format"]["schema"]
    properties: dict[str, Any] = schema["properties"]["records"]["items"]["properties"]
    return properties


def test_long_strings_are_asked_for_within_what_a_grammar_server_parses(
    openai_model: Transport,
) -> None:
    # llama.cpp makes a string's maxLength into that many nested grammar rules: a review's
    # 2,000-character body killed llama-cpp-python's server (tests/llm/test_real_model.py).
    response = ask(entity="review", count=2, context="reviews of trail running shoes")
    assert response.metadata.generation_path == "llm"
    review = asked_for(openai_model.seen[0])
    assert review["body"]["maxLength"] == GRAMMAR_MAX_LENGTH and review["title"]["maxLength"] == 120
    # A string that must be longer than that: its least length is asked for, its most checked.
    response = ask(
        schema={"fields": [{"name": "note", "type": "STRING"}]},
        count=2,
        context="long customer support notes",
        constraints={"field_constraints": {"note": {"min_length": 600, "max_length": 3000}}},
    )
    assert response.metadata.generation_path == "llm"
    note = asked_for(openai_model.seen[-1])["note"]
    assert "maxLength" not in note and note["minLength"] == 600
    assert all(600 <= len(r["note"]) <= 3000 for r in records_of(response))


def ask_with_enum(name: str, values: list[str], context: str) -> GenerateResponse:
    """Two records of a caller's schema: an ENUM field ``name`` of ``values``, and a note."""
    return ask(
        schema={"fields": [{"name": name, "type": "ENUM"}, {"name": "note", "type": "STRING"}]},
        count=2,
        context=context,
        constraints={"field_constraints": {name: {"enum_values": values}}},
    )


def test_enum_values_are_listed_in_the_prompt_as_json_strings(openai_model: Transport) -> None:
    # Listed joined by ", ", values with commas in them ran together: "one of Doe, John, Roe,
    # Jane" is four names or two.
    values = ["Doe, John", "Roe, Jane"]
    response = ask_with_enum("owner", values, "support tickets and who owns them")
    assert response.metadata.generation_path == "llm"
    prompt = openai_model.seen[0]["messages"][-1]["content"]
    assert '- owner: one of ["Doe, John", "Roe, Jane"]' in prompt


def test_an_enum_value_with_a_double_quote_is_not_made_a_grammar(
    openai_model: Transport,
) -> None:
    # A caller's enum value with a double quote (12" pizza) made a grammar llama-cpp-python
    # cannot parse, and its server died for every later caller (tests/llm/test_real_model.py).
    # Such an enum is asked for in the prompt, not the schema; the answer is checked as ever.
    values = ['12" pizza', "16 inch pizza", "slice"]
    response = ask_with_enum("size", values, "pizza orders")
    assert response.metadata.generation_path == "llm"
    asked = asked_for(openai_model.seen[0])
    assert "enum" not in asked["size"] and asked["size"]["type"] == "string"
    prompt = openai_model.seen[0]["messages"][-1]["content"]
    assert 'one of ["12\\" pizza", "16 inch pizza", "slice"]' in prompt  # as JSON strings
    assert all(record["size"] in values for record in records_of(response))
    # Without a quote, the values stay in the schema (a grammar keeps to them).
    ask(
        schema={"fields": [{"name": "size", "type": "ENUM"}]},
        count=2,
        context="pizza orders",
        constraints={"field_constraints": {"size": {"enum_values": values[1:]}}},
    )
    assert asked_for(openai_model.seen[-1])["size"]["enum"] == values[1:]


# What OpenAI's strict json_schema accepts; anything else is answered 400 "… is not permitted".
STRICT_KEYWORDS = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "enum", "const",
        "description", "title", "anyOf", "$defs", "$ref", "pattern", "format", "minimum",
        "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
    }
)  # fmt: skip


def refused_by_strict_mode(schema: Any, where: str = "$") -> str | None:
    """Why OpenAI would refuse ``schema`` in strict mode, or None."""
    if isinstance(schema, list):
        return next(
            (
                why
                for i, s in enumerate(schema)
                if (why := refused_by_strict_mode(s, f"{where}[{i}]"))
            ),
            None,
        )
    if not isinstance(schema, dict):
        return None
    if where.endswith((".properties", ".$defs")):  # names, not keywords
        return next(
            (why for k, s in schema.items() if (why := refused_by_strict_mode(s, f"{where}.{k}"))),
            None,
        )
    unknown = sorted(set(schema) - STRICT_KEYWORDS)
    if unknown:
        return f"{where}: '{unknown[0]}' is not permitted"
    if schema.get("type") == "object" and (
        schema.get("additionalProperties") is not False
        or set(schema.get("required", ())) != set(schema.get("properties", {}))
    ):
        return f"{where}: every property required and additionalProperties false"
    return next(
        (
            why
            for key, value in schema.items()
            if (why := refused_by_strict_mode(value, f"{where}.{key}"))
        ),
        None,
    )


def like_openai(transport: Transport) -> Answer:
    """OpenAI's answer: a 400 for a schema strict mode refuses, else the scripted records."""

    def answer(body: dict[str, Any]) -> httpx2.Response:
        fmt = body["response_format"]
        why = refused_by_strict_mode(fmt["json_schema"]["schema"])
        if fmt["json_schema"].get("strict") is not True or why:
            error = {"message": f"Invalid schema for response_format 'records': {why}"}
            return httpx2.Response(400, json={"error": {**error, "type": "invalid_request_error"}})
        return httpx2.Response(200, json=scripted_model.chat_completion(body))

    return answer


NOTE_SCHEMA = {"fields": [{"name": "note", "type": "STRING"}, {"name": "tags", "type": "ARRAY"}]}


def test_an_enum_too_long_to_list_is_drawn_not_asked_for(openai_model: Transport) -> None:
    """A caller's ENUM of 5,000 values was listed in every call's prompt and again in its
    answer schema (10,000 values: 260 KB a call, within the token budget): past what a prompt
    lists, the field is drawn by traditional generation, and the report says so."""
    codes = [f"CODE-{i:05d}" for i in range(5_000)]
    schema = {
        "fields": [
            {"name": "note", "type": "STRING"},
            {"name": "code", "type": "ENUM"},
            {"name": "size", "type": "ENUM"},
        ]
    }
    values = {"code": {"enum_values": codes}, "size": {"enum_values": ["S", "M", "L"]}}
    response = ask(
        schema=schema,
        count=3,
        context="support tickets about sizing",
        constraints={"field_constraints": values},
    )
    llm = response.metadata.llm
    assert response.metadata.generation_path == "llm" and llm is not None
    assert llm.records_from_model == 3
    assert any("code" in note and "5,000" in note for note in llm.notes), llm.notes
    sent = openai_model.seen[0]
    assert set(asked_for(sent)) >= {"note", "size"} and "code" not in asked_for(sent)
    assert len(json.dumps(sent)) < 20_000
    assert all(r["code"] in codes and r["size"] in ("S", "M", "L") for r in records_of(response))


@pytest.mark.parametrize(
    "asked",
    [
        {"entity": "review"},
        {"entity": "cart"},
        {
            "schema": NOTE_SCHEMA,
            "constraints": {"field_constraints": {"note": {"min_length": 20, "max_length": 300}}},
        },
    ],
    ids=["review", "cart", "schema"],
)
def test_openai_strict_mode_is_sent_only_what_it_accepts(
    openai_model: Transport, monkeypatch: pytest.MonkeyPatch, asked: dict[str, Any]
) -> None:
    # OpenAI's strict json_schema refuses minLength/maxLength ("… is not permitted"): sent
    # them, every review request to OpenAI itself fell back. Lengths are in the prompt, and
    # checked when the answer comes back.
    monkeypatch.setenv("LLM_RESPONSE_FORMAT", "json_schema")
    openai_model.then(*[like_openai(openai_model)] * 4)
    response = ask(count=5, context="a spring sale", **asked)
    meta = response.metadata
    assert (meta.generation_path, meta.fallback_reason) == ("llm", ""), meta.fallback_reason
    sent = openai_model.seen[0]
    assert sent["response_format"]["type"] == "json_schema"
    if "schema" in asked:  # the lengths are asked for in words, and held to
        assert "note: at least 20 characters, at most 300 characters" in json.dumps(sent)
        assert all(20 <= len(r["note"]) <= 300 for r in records_of(response))
    else:
        assert meta.llm is not None and meta.llm.records_from_model == 5


def test_wrong_arithmetic_from_the_model_is_recomputed(openai_model: Transport) -> None:
    def lie(records: list[dict[str, Any]]) -> None:
        for r in records:
            r.update(subtotal=1.0, tax=999.0, total=3.5)
            for item in r["items"]:
                item["line_total"] = 0.01

    openai_model.then(chat_records(lie))
    carts = records_of(ask(entity="cart", count=4, context=FITNESS))
    for cart in carts:
        assert_cart_math(cart)
        assert cart["total"] != 3.5


def test_harmless_shapes_of_numbers_are_read_as_the_numbers_they_are(
    openai_model: Transport,
) -> None:
    """A small model writes "$19.99" for a price, 2.0 or "3" for a quantity, 19.999 for
    money: read as 19.99, 2, 3 and 20.0, and the records are the model's, not filled."""
    shapes = [("$19.99", 2.0), ("24.5", "3"), (19.999, 1)]

    def loosely(records: list[dict[str, Any]]) -> None:
        for r in records:
            r["items"] = [{**r["items"][0], "price": p, "quantity": q} for p, q in shapes]

    openai_model.then(chat_records(loosely))
    response = ask(entity="cart", count=2, context=FITNESS)
    assert response.metadata.llm is not None
    assert response.metadata.llm.records_from_model == 2 and not response.metadata.llm.notes
    for cart in records_of(response):
        assert [(i["price"], i["quantity"]) for i in cart["items"]] == [
            (19.99, 2),
            (24.5, 3),
            (20.0, 1),
        ]
        assert all(type(i["quantity"]) is int for i in cart["items"])
        assert_cart_math(cart)


def test_a_record_breaking_a_constraint_is_sent_back_with_its_errors_and_repaired(
    openai_model: Transport,
) -> None:
    def too_high(records: list[dict[str, Any]]) -> None:
        records[1]["rating"] = 7

    openai_model.then(chat_records(too_high))
    response = ask(entity="review", count=3, context="reviews of wireless headphones")
    reviews = records_of(response)
    assert all(1 <= r["rating"] <= 5 for r in reviews)
    assert response.metadata.llm is not None and response.metadata.llm.repairs == 1
    repair_prompt = openai_model.seen[1]["messages"][-1]["content"]
    assert "rating: must be ≤ 5" in repair_prompt and '"_index": 1' in repair_prompt
    assert response.metadata.llm.records_filled == 0


def test_numbers_past_what_a_record_may_hold_are_sent_back_not_raised(
    openai_model: Transport,
) -> None:
    # A 400-digit integer (json takes it as a Python int) made float() raise OverflowError in
    # the overlay, the recomputed sums and the validator; a price of 10^17 overflowed the int64
    # cents of a line total into a negative one.
    def huge(records: list[dict[str, Any]]) -> None:
        records[0]["items"][0]["quantity"] = 10**400
        records[1]["items"][0]["price"] = 10**400
        records[2]["items"][0]["price"] = 1e17

    openai_model.then(chat_records(huge))
    response = ask(entity="cart", count=3, context=FITNESS)
    carts = records_of(response)
    for cart in carts:
        assert_cart_math(cart)
        assert all(0 < i["price"] < 1e6 and 0 < i["quantity"] <= 99 for i in cart["items"])
    assert response.metadata.llm is not None and response.metadata.llm.repairs == 3
    repair_prompt = openai_model.seen[1]["messages"][-1]["content"]
    assert "items[0].quantity: must be ≤ 99" in repair_prompt
    assert "items[0].price: must be between" in repair_prompt


def test_an_items_sku_is_made_from_the_item_the_model_wrote(openai_model: Transport) -> None:
    # The SKU came from the traditional cart the answer was laid over: a "Coleman Tent" had
    # ADID-SHOE-GRY-11, and where the model wrote more items than that cart had, its SKUs were
    # used again (three different items, one SKU).
    camping = [
        ("Coleman Sundome Tent (Green)", "Tents"),
        ("Hydro Flask Insulated Water Bottle (Blue)", "Fitness Accessories"),
        ("Nike Running Shoes", "Athletic Footwear"),
        ("Trail Mix", "Snacks"),
        ("Headlamp", "Camping Gear"),
    ]

    def camp(records: list[dict[str, Any]]) -> None:
        for r in records:
            r["items"] = [
                {"name": n, "category": c, "quantity": 1 + r["_index"], "price": 9.99}
                for n, c in camping
            ]

    openai_model.then(chat_records(camp), chat_records(camp))  # 6 records: two calls
    carts = records_of(ask(entity="cart", count=6, context="carts for a camping trip"))
    assert all(c.get("_filled_by") is None for c in carts)
    for cart in carts:
        skus = [i["sku"] for i in cart["items"]]
        assert len(set(skus)) == 5, skus
        assert skus[0].startswith("COLE-TENT-GRN-")  # nothing known but a color
        assert skus[1] == "HYDR-BOTL-BLU-OS"  # brand, product line, color and its one size
        assert skus[2].startswith("NIKE-SHOE-")  # the line of a name: Running Shoes
        assert skus[3].split("-")[:2] == ["TRAI", "MIX"]  # a brand unknown: its first word
        assert skus[4].split("-")[1] == "HEAD"  # one word: the brand laid over is kept


def test_an_empty_string_where_a_field_has_a_value_is_sent_back(openai_model: Transport) -> None:
    # SmolLM2 wrote a user's first_name as "": valid by the schema (no least length), and
    # served as it was.
    def blank(records: list[dict[str, Any]]) -> None:
        records[0]["title"] = " "
        records[1]["body"] = ""

    openai_model.then(chat_records(blank))
    response = ask(entity="review", count=3, context="reviews of wireless headphones")
    reviews = records_of(response)
    assert all(r["title"].strip() and r["body"].strip() for r in reviews)
    assert response.metadata.llm is not None and response.metadata.llm.repairs == 2
    repair_prompt = openai_model.seen[1]["messages"][-1]["content"]
    assert (
        "title: must not be empty" in repair_prompt and "body: must not be empty" in repair_prompt
    )


def test_a_grammar_server_is_asked_for_what_the_checks_demand(openai_model: Transport) -> None:
    # llama.cpp's grammar keeps no minimum or maximum (SmolLM2 wrote ratings of 1983 and -10),
    # and a string with no least length may be "" (a body, then refused as empty): every record
    # went back twice and was filled. A small range is asked for as its values; a string that
    # may not be blank as at least one character.
    response = ask(entity="review", count=2, context="reviews of trail running shoes")
    assert response.metadata.generation_path == "llm"
    review = asked_for(openai_model.seen[0])
    assert review["rating"]["enum"] == [1, 2, 3, 4, 5]
    assert review["body"]["minLength"] == 1 and review["title"]["minLength"] == 1
    response = ask(
        schema={
            "fields": [{"name": "stars", "type": "INTEGER"}, {"name": "votes", "type": "INTEGER"}]
        },
        count=2,
        context="ratings of hiking trails",
        constraints={
            "field_constraints": {
                "stars": {"min": 0.5, "max": 10.5},
                "votes": {"min": 0, "max": 500},
            }
        },
    )
    asked = asked_for(openai_model.seen[-1])
    assert asked["stars"]["enum"] == list(range(1, 11))  # the whole numbers within the bounds
    assert "enum" not in asked["votes"] and asked["votes"]["maximum"] == 500  # 501: a range
    assert all(1 <= r["stars"] <= 10 for r in records_of(response))


def test_a_record_still_broken_when_asked_again_is_filled_and_the_reason_named(
    openai_model: Transport,
) -> None:
    def too_high(records: list[dict[str, Any]]) -> None:
        for r in records:
            if r.get("_index") == 1:
                r["rating"] = 7

    openai_model.then(chat_records(too_high), chat_records(too_high), chat_records(too_high))
    response = ask(entity="review", count=3, context="reviews of wireless headphones")
    llm = response.metadata.llm
    assert llm is not None and (llm.repairs, llm.records_filled, llm.records_from_model) == (
        0,
        1,
        2,
    )
    assert records_of(response)[1]["_filled_by"] == "traditional"
    assert llm.notes == [
        "1 record(s) filled by traditional generation, the model's invalid or missing "
        "(record 1: rating: must be ≤ 5)"
    ]


def test_markdown_fenced_json_after_a_preamble_is_read(openai_model: Transport) -> None:
    def fenced(body: dict[str, Any]) -> Any:
        made = scripted_model.chat_completion(body)
        text = made["choices"][0]["message"]["content"]
        return chat_text(f"Sure! Here are your records:\n```json\n{text}\n```\nEnjoy.")(body)

    openai_model.then(fenced)
    response = ask(entity="review", count=2, context="reviews of running shoes")
    assert response.metadata.llm is not None
    assert response.metadata.llm.records_from_model == 2 and response.metadata.llm.calls == 1


@pytest.mark.parametrize(
    "wrap",
    [
        # DeepSeek-R1 and Qwen3 through servers without a reasoning parser: the thinking comes
        # first, in the content, braces and brackets and all.
        "<think>\nThe schema says {rating, title, body}; [1..5] for rating.\n</think>\n\n{}",
        "{}\n\nNote: I kept each {title} short [as asked].",
        "Here you go: {} (and {that} is all)",
    ],
    ids=["thinking-first", "remark-after", "both-sides"],
)
def test_json_among_other_braces_is_read(openai_model: Transport, wrap: str) -> None:
    def wrapped(body: dict[str, Any]) -> Any:
        made = scripted_model.chat_completion(body)
        return chat_text(wrap.replace("{}", made["choices"][0]["message"]["content"], 1))(body)

    openai_model.then(wrapped)
    response = ask(entity="review", count=2, context="reviews of running shoes")
    llm = response.metadata.llm
    assert llm is not None
    assert (llm.records_from_model, llm.calls) == (2, 1), llm.notes


def test_malformed_json_is_asked_again_then_filled_and_labelled(openai_model: Transport) -> None:
    openai_model.then(chat_text('{"records": [{"rating": 5, "title": '), chat_text("not json"))
    response = ask(entity="review", count=2, context="reviews of running shoes")
    reviews = records_of(response)
    assert validate_records(get_entity("review"), reviews).valid
    llm = response.metadata.llm
    assert llm is not None and llm.records_filled == 2 and llm.records_from_model == 0
    assert all(r["_filled_by"] == "traditional" for r in reviews)
    assert any("unreadable" in note for note in llm.notes)
    assert "2 record(s) filled by traditional generation" in llm.notes[-1]
    assert "record 0: no record was written for this _index" in llm.notes[-1]


def test_a_truncated_answer_is_split_and_asked_again(openai_model: Transport) -> None:
    openai_model.then(chat_text('{"records": [{"_index": 0, "rating": 4', finish_reason="length"))
    response = ask(entity="review", count=4, context="reviews of running shoes")
    llm = response.metadata.llm
    assert llm is not None and llm.records_from_model == 4
    assert openai_model.calls == 3  # the cut-off call, then each half
    halves = [m["messages"][-1]["content"] for m in openai_model.seen[1:]]
    assert "_index 0 to 1" in halves[0] and "_index 2 to 3" in halves[1]


def test_duplicates_are_replaced_and_the_unique_ratio_reported(openai_model: Transport) -> None:
    def same(records: list[dict[str, Any]]) -> None:
        for r in records[1:]:
            r.update({k: v for k, v in records[0].items() if not k.startswith("_")})

    openai_model.then(chat_records(same), chat_records(same))
    response = ask(entity="review", count=4, context="reviews of running shoes")
    llm = response.metadata.llm
    assert llm is not None and llm.unique_ratio == 0.25
    reviews = records_of(response)
    assert sum("_filled_by" in r for r in reviews) == 3
    assert validate_records(get_entity("review"), reviews).valid


def test_scenario_overrides_win_over_the_model(openai_model: Transport) -> None:
    response = ask(
        entity="review",
        count=4,
        context="reviews of running shoes",
        scenarios=[
            {"name": "happy", "count": 2},
            {"name": "angry", "count": 2, "overrides": {"rating": "1"}},
        ],
    )
    reviews = records_of(response)
    assert [r["_scenario"] for r in reviews] == ["happy", "happy", "angry", "angry"]
    assert [r["rating"] for r in reviews[2:]] == [1, 1]


@pytest.mark.parametrize("provider", ["openai_model", "anthropic_model"])
def test_the_same_request_and_seed_with_use_cache_replays_the_same_bytes_with_no_call(
    provider: str, request: pytest.FixtureRequest
) -> None:
    # OpenAI-compatible answers are stored as text, Anthropic's as the tool call's records.
    model: Transport = request.getfixturevalue(provider)
    fields = {"entity": "cart", "count": 5, "context": FITNESS, "seed": 99, "use_cache": True}
    first = ask(**fields)
    calls = model.calls
    again = ask(**fields)
    assert again.data == first.data
    assert model.calls == calls  # no model call the second time
    assert again.metadata.llm is not None and again.metadata.llm.cache_hit
    assert again.metadata.llm.calls == 0 and first.metadata.llm is not None
    assert first.metadata.llm.calls == 1 and not first.metadata.llm.cache_hit


def test_a_token_budget_stops_a_runaway_request_cleanly(
    openai_model: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:

    from tda import wiring

    def budget(tokens: int) -> None:  # settings are read when the generator is made
        monkeypatch.setenv("LLM_MAX_TOKENS_PER_REQUEST", str(tokens))
        client = scripted_client(openai_model)
        wiring.install(model_http_client=client)

    # A budget below what one call could spend: no call is made, traditional fills, a note says.
    budget(500)
    response = ask(entity="review", count=5, context="reviews of running shoes")
    llm = response.metadata.llm
    assert llm is not None and llm.calls == 0 and llm.records_filled == 5
    assert any("budget of 500 tokens" in note for note in llm.notes)
    assert openai_model.calls == 0
    # A budget that fits the request: served by the model, nothing said.
    budget(20_000)
    response = ask(entity="review", count=5, context="reviews of running shoes")
    llm = response.metadata.llm
    assert llm is not None and llm.calls == 1 and llm.records_from_model == 5 and not llm.notes
    assert llm.tokens_input + llm.tokens_output <= 20_000


def test_anthropic_answers_through_a_tool_call_with_the_static_prompt_cached(
    anthropic_model: Transport,
) -> None:
    response = ask(entity="user", count=3, context="loyal shoppers in Chicago")
    meta = response.metadata
    assert meta.generation_path == "llm" and meta.llm is not None
    assert meta.llm.provider == "anthropic" and meta.llm.tokens_cache_read > 0
    sent = anthropic_model.seen[0]
    assert sent["tool_choice"] == {"type": "tool", "name": "emit"}
    assert sent["model"] and sent["max_tokens"] > 0 and "temperature" not in sent
    assert sent["tools"][0]["input_schema"]["properties"]["records"]["type"] == "array"
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}
    users = records_of(response)
    assert validate_records(get_entity("user"), users).valid
    for user in users:  # the core mends the email to carry the model's name
        local = user["email"].split("@")[0]
        assert user["last_name"].lower() in local
    assert meta.coherence_score == 1.0


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ([{"name": "id", "type": "UUID"}, {"name": "code", "type": "ENUM"}], "too many values"),
        ([{"name": "id", "type": "UUID"}, {"name": "at", "type": "DATETIME"}], "no free text"),
    ],
    ids=["enum too long to list", "ids and dates"],
)
def test_records_with_nothing_for_a_model_to_write_cost_no_call(
    openai_model: Transport, fields: list[dict[str, Any]], why: str
) -> None:
    """A model was called to write records with nothing in them it could write (an empty
    object each, then two of three "duplicates"): traditional generation serves, saying why."""
    codes = [f"CODE-{i:05d}" for i in range(5_000)]
    response = ask(
        schema={"fields": fields},
        count=3,
        context="support tickets about sizing",
        constraints={"field_constraints": {"code": {"enum_values": codes}}}
        if fields[1]["name"] == "code"
        else None,
    )
    meta = response.metadata
    assert (meta.routed_path, meta.generation_path) == ("llm", "traditional")
    assert "nothing for a model to write" in meta.fallback_reason and why in meta.fallback_reason
    assert openai_model.calls == 0 and meta.llm is None
    assert len(records_of(response)) == 3
