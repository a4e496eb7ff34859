"""Any JSON a caller sends is either a request or field-level errors, and an accepted request
reads back the same from its own JSON (``to_payload``) and from its proto3 camelCase names.

The contract is dataclasses validated by pydantic_core (``tda.domain.wire``): the validator
builds each object from what it validated, so a payload must never reach a constructor that
fails otherwise (a TypeError, a KeyError) or come out different from what was sent.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tda.app.requests import parse_request
from tda.domain.contract import GenerateRequest
from tda.domain.errors import InvalidRequestError

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.sampled_from(["5", "1.5", "json", " csv ", "ARRAY", "object", "2", "-1", "1e3", "STRING"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def either(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a valid value, sometimes anything: most payloads are then accepted, and read back."""
    return st.integers(0, 4).flatmap(lambda pick: valid if pick else VALUES)


FIELD = st.recursive(
    st.fixed_dictionaries(
        {"name": st.text(max_size=4)},
        optional={
            "type": st.sampled_from(["STRING", "ARRAY", 3, "object", " float ", 99, True]),
            "required": st.one_of(st.booleans(), st.just(1)),
            "description": st.text(max_size=3),
        },
    ),
    lambda inner: st.fixed_dictionaries(
        {
            "name": st.text(max_size=3),
            "type": st.just("OBJECT"),
            "nested_fields": st.lists(inner, max_size=2),
        }
    ),
    max_leaves=4,
)
CONSTRAINT = st.fixed_dictionaries(
    {},
    optional={
        "min": either(st.one_of(st.integers(), st.floats(allow_nan=False), st.just("2.5"))),
        "max_length": either(st.integers(0, 9)),
        "enum_values": either(st.lists(st.text(max_size=2), max_size=2)),
        "regex": st.one_of(st.none(), st.text(max_size=4)),
        "format": st.one_of(st.none(), st.text(max_size=4)),
    },
)
FIELDS_SENT = st.fixed_dictionaries(
    {},
    optional={
        "request_id": either(st.text(max_size=3)),
        "entity": st.sampled_from(["cart", "user", "", "thing"]),
        "count": st.one_of(st.integers(-5, 10**6), st.sampled_from(["5", "12", 3.0, 2.5, True])),
        "seed": either(st.one_of(st.none(), st.integers(-(2**64), 2**64), st.just("123"))),
        "output_format": either(st.sampled_from(["json", "CSV", 2, 3, " ndjson", 9])),
        "schema": either(
            st.fixed_dictionaries(
                {},
                optional={
                    "fields": st.lists(FIELD, max_size=3),
                    "predefined_schema": st.text(max_size=3),
                },
            ),
        ),
        "constraints": either(
            st.fixed_dictionaries(
                {"field_constraints": st.dictionaries(st.text(max_size=3), CONSTRAINT, max_size=2)}
            ),
        ),
        "scenarios": either(
            st.lists(
                st.fixed_dictionaries(
                    {"name": st.text(max_size=3)},
                    optional={
                        "count": either(st.integers(0, 9)),
                        "overrides": st.dictionaries(
                            st.text(max_size=2), st.text(max_size=2), max_size=2
                        ),
                    },
                ),
                max_size=2,
            ),
        ),
        "use_cache": either(st.booleans()),
        "hints": either(st.lists(st.text(max_size=2), max_size=2)),
        "locale": st.text(max_size=3),
    },
)
# And now and then a field the contract does not have: refused by name.
REQUEST = st.integers(0, 4).flatmap(
    lambda pick: FIELDS_SENT if pick else FIELDS_SENT.map(lambda p: {**p, "unknown_field": 1})
)


def camel_case(value: Any) -> Any:
    """The same payload under proto3 JSON's names (``nestedFields``), as MessageToJson writes;
    a map's keys (constraints by field path, overrides) are data, not names."""
    if isinstance(value, list):
        return [camel_case(item) for item in value]
    if not isinstance(value, dict):
        return value
    maps = {"field_constraints", "overrides"}

    def to_camel(key: str) -> str:
        return re.sub(r"_([a-z])", lambda match: match.group(1).upper(), key)

    return {
        to_camel(key): (
            {k: camel_case(v) for k, v in item.items()}
            if key in maps and isinstance(item, dict)
            else camel_case(item)
        )
        for key, item in value.items()
    }


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(REQUEST)
def test_any_payload_is_a_request_or_field_errors_and_reads_back_the_same(
    payload: dict[str, Any],
) -> None:
    try:
        request = parse_request(payload)
    except InvalidRequestError as refused:
        assert refused.issues and all(issue.field and issue.message for issue in refused.issues)
        return
    assert isinstance(request, GenerateRequest)
    again = parse_request(request.to_payload())
    assert again == request
    assert parse_request(camel_case(request.to_payload())) == request
