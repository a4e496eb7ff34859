"""The compiled renderer (``_textrender``) writes exactly the bytes of the Python text path.

The bulk JSON/NDJSON path renders with C when the extension was built at install; the Python
path (``record_texts``) is the reference it is held to, byte for byte: on every entity, on
hostile values, and on any column hypothesis can draw. Bad programs are refused with an error,
never read out of bounds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tda.app.service import plan_request, resolve_spec
from tda.domain.contract import GenerateRequest, OutputFormat
from tda.domain.records import ColumnBatch
from tda.domain.schema.spec import EntitySpec
from tda.paths.traditional import native_program as renderer
from tda.paths.traditional.bulk import stream_output
from tda.paths.traditional.native_program import (
    ARRAY,
    BOOL,
    COLUMN,
    INT64,
    OBJECT,
    TEXT,
    native_program,
    object_slots,
)

from ..conftest import ENTITIES

native = renderer.native
needs_native = pytest.mark.skipif(native is None, reason="the compiled renderer is not built")


@pytest.fixture
def python_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(renderer, "native", None)
    yield


def both(request: GenerateRequest, fmt: OutputFormat) -> tuple[bytes, bytes]:
    plan = plan_request(request)
    compiled = b"".join(stream_output(plan, fmt))
    saved = renderer.native
    setattr(renderer, "native", None)  # noqa: B010 - the module's attribute, typed as a module
    try:
        python = b"".join(stream_output(plan, fmt))
    finally:
        renderer.native = saved
    return compiled, python


def test_the_compiled_renderer_is_built() -> None:
    """``pip install -e .`` compiles it where a C compiler is (CI has one): not silently absent."""
    if os.environ.get("TDA_ALLOW_PURE_PYTHON_RENDER") == "1":
        pytest.skip("pure-Python rendering allowed by TDA_ALLOW_PURE_PYTHON_RENDER")
    assert native is not None, "run `pip install -e .` with a C compiler (gcc) installed"


@needs_native
@pytest.mark.parametrize("entity", ENTITIES)
@pytest.mark.parametrize("fmt", [OutputFormat.NDJSON, OutputFormat.JSON])
def test_every_entity_renders_the_same_bytes_in_c_and_python(
    entity: str, fmt: OutputFormat
) -> None:
    compiled, python = both(GenerateRequest(entity=entity, count=10_300, seed=11), fmt)
    assert compiled == python
    assert len(compiled) > 10_300 * 50


HOSTILE = 'q"uo\\te \x00\x01\x1f\x7f \b\f\n\r\t é 東京 😀 </script> ","'


@needs_native
def test_hostile_values_and_fallback_columns_render_the_same_bytes() -> None:
    """Escapes, nulls, dates before 1970 and after 9999, money past 10^13, generic floats,
    strftime formats and epoch seconds: each in C or handed over by Python, same bytes."""
    fields = [
        {"name": "label", "type": "STRING"},
        {"name": "price", "type": "FLOAT", "required": False},
        {"name": "huge", "type": "FLOAT"},
        {"name": "ratio", "type": "FLOAT"},
        {"name": "qty", "type": "INTEGER", "required": False},
        {"name": "old", "type": "DATETIME"},
        {"name": "far", "type": "DATE"},
        {"name": "day", "type": "DATE", "required": False},
        {"name": "stamp", "type": "DATETIME", "required": False},
        {"name": "custom", "type": "DATE"},
        {"name": "flag", "type": "BOOLEAN", "required": False},
        {"name": "tags", "type": "ARRAY", "nested_fields": [{"name": "tag", "type": "STRING"}]},
        {
            "name": "lines",
            "type": "ARRAY",
            "nested_fields": [
                {"name": "amount", "type": "FLOAT"},
                {"name": "note", "type": "STRING", "required": False},
                {
                    "name": "box",
                    "type": "OBJECT",
                    "nested_fields": [{"name": "w", "type": "FLOAT"}],
                },
            ],
        },
    ]
    constraints = {
        "price": {"format": "money", "min": -500, "max": 500},
        "huge": {"format": "money", "min": 2e13, "max": 9e13},
        "lines.amount": {"format": "money"},
        "old": {"min": -2177452800, "max": -1},  # 1901-01-01 … 1969-12-31T23:59:59Z
        "far": {"min": 253087000000, "max": 253402300799},  # 9990 … 9999-12-31
        "stamp": {"format": "epoch"},
        "custom": {"format": "%d/%m/%Y"},
        "tags": {"min_length": 0, "max_length": 3},
        "lines": {"min_length": 0, "max_length": 3},
    }
    overrides = {
        "label": HOSTILE,
        "price": "null",
        "qty": "null",
        "day": "null",
        "stamp": "null",
        "flag": "null",
        "lines.note": HOSTILE,
    }
    request = GenerateRequest.model_validate(
        {
            "entity": "odd",
            "schema": {"fields": fields},
            "constraints": {"field_constraints": constraints},
            "count": 900,
            "seed": 4,
            "scenarios": [
                {"name": HOSTILE, "count": 400, "overrides": overrides},
                {"name": "plain", "count": 500},
            ],
        }
    )
    compiled, python = both(request, OutputFormat.NDJSON)
    assert compiled == python
    compiled_array, python_array = both(request, OutputFormat.JSON)
    assert compiled_array == python_array
    records = orjson.loads(compiled_array)
    assert [orjson.loads(line) for line in compiled.splitlines()] == records
    assert {r["label"] for r in records if r["_scenario"] == HOSTILE} == {HOSTILE}
    assert all(r["old"] < "1970" and r["far"] >= "9990" for r in records)
    assert any(r["huge"] > 2e13 for r in records)


# --------------------------------------------------------------------------- any column values

_SPEC_FIELDS = [
    {"name": "s", "type": "STRING"},
    {"name": "m", "type": "FLOAT", "required": False},
    {"name": "i", "type": "INTEGER", "required": False},
    {"name": "d", "type": "DATE", "required": False},
    {"name": "t", "type": "DATETIME", "required": False},
    {"name": "b", "type": "BOOLEAN"},
    {"name": "items", "type": "ARRAY", "nested_fields": [{"name": "v", "type": "INTEGER"}]},
]


def _spec() -> EntitySpec:
    request = GenerateRequest.model_validate(
        {
            "entity": "any",
            "schema": {"fields": _SPEC_FIELDS},
            "constraints": {"field_constraints": {"m": {"format": "money"}}},
            "count": 1,
        }
    )
    return resolve_spec(request)


SPEC = _spec()
nullable_float = st.one_of(st.just(float("nan")), st.floats(allow_nan=False, allow_infinity=False))


@st.composite
def batches(draw: Any) -> ColumnBatch:
    n = draw(st.integers(0, 12))
    lengths = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=np.int64)
    strings = st.one_of(st.text(max_size=12), st.none(), st.booleans())
    whole = st.one_of(st.just(float("nan")), st.integers(-(10**16), 10**16).map(float))
    seconds = st.one_of(st.just(float("nan")), st.integers(-(10**11), 3 * 10**11).map(float))
    column = {
        "s": np.array([*draw(st.lists(strings, min_size=n, max_size=n)), None], dtype=object)[:n],
        "m": np.array(draw(st.lists(st.one_of(whole, nullable_float), min_size=n, max_size=n))),
        "i": np.array(draw(st.lists(whole, min_size=n, max_size=n)), dtype=np.float64),
        "d": np.array(draw(st.lists(seconds, min_size=n, max_size=n)), dtype=np.float64),
        "t": np.array(draw(st.lists(seconds, min_size=n, max_size=n)), dtype=np.float64),
        "b": np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool),
        "items.v": np.array(
            draw(
                st.lists(
                    st.integers(-(2**63), 2**63 - 1),
                    min_size=int(lengths.sum()),
                    max_size=int(lengths.sum()),
                )
            ),
            dtype=np.int64,
        ),
    }
    return ColumnBatch(n=n, values=column, lengths={"items": lengths})


@needs_native
@settings(max_examples=300, deadline=None)
@given(batches())
def test_any_column_values_render_the_same_bytes_in_c_and_python(batch: ColumnBatch) -> None:
    meta = [("_index", (range(7, 7 + batch.n), False))]
    compiled = renderer.record_blob(batch, SPEC, meta, b"\n")
    saved = renderer.native
    setattr(renderer, "native", None)  # noqa: B010 - the module's attribute, typed as a module
    try:
        python = renderer.record_blob(batch, SPEC, meta, b"\n")
    finally:
        renderer.native = saved
    assert compiled.text == python.text
    assert compiled.offsets.tolist() == python.offsets.tolist()
    assert [orjson.loads(compiled[i : i + 1].text) for i in range(batch.n)] == [
        orjson.loads(line) for line in python.text.splitlines()
    ]


@needs_native
def test_a_lone_surrogate_fails_as_the_python_path_fails() -> None:
    batch = ColumnBatch(
        n=1,
        values={
            "s": np.array(["bad \udc80"], dtype=object),
            "m": np.array([100.0]),
            "i": np.array([1.0]),
            "d": np.array([0.0]),
            "t": np.array([0.0]),
            "b": np.array([True]),
            "items.v": np.array([], dtype=np.int64),
        },
        lengths={"items": np.array([0], dtype=np.int64)},
    )
    with pytest.raises(orjson.JSONEncodeError):
        renderer.record_blob(batch, SPEC, [], b"\n")


# --------------------------------------------------------------------------- bad programs


def _column(kind: int, payload: Any) -> tuple[Any, ...]:
    return (OBJECT, ((b'{"x":', (COLUMN, kind, payload)),), b"}")


@needs_native
@pytest.mark.parametrize(
    ("program", "n", "message"),
    [
        (_column(INT64, np.arange(3, dtype=np.int64)), 4, "column length"),
        (_column(INT64, np.arange(4, dtype=np.float64)), 4, "wrong dtype"),
        (_column(BOOL, np.zeros(4, dtype=np.int64)), 4, "wrong dtype"),
        (_column(INT64, np.arange(4, dtype=">i8")), 4, "wrong dtype"),
        (_column(TEXT, ["a", "b", 3, "d"]), 4, "text columns hold str"),
        (_column(TEXT, object_slots(np.array(["a"], dtype=object))), 4, "column length"),
        (
            (ARRAY, np.array([1, 2], dtype=np.int64), (COLUMN, INT64, np.arange(2))),
            2,
            "column length",
        ),
        ((ARRAY, np.array([1, -1], dtype=np.int64), (COLUMN, INT64, np.arange(0))), 2, "lengths"),
        ((ARRAY, np.array([1], dtype=np.int64), (COLUMN, INT64, np.arange(1))), 2, "lengths"),
        ((7, 0, 0), 1, "unknown node type"),
        ((COLUMN, 99, []), 0, "unknown column kind"),
    ],
)
def test_malformed_programs_are_refused(program: Any, n: int, message: str) -> None:
    assert native is not None
    with pytest.raises(ValueError, match=message):
        native.render(program, n, b"\n", orjson.dumps)


@needs_native
def test_a_program_reads_columns_at_their_own_level() -> None:
    """Two records with 2 and 0 items: the item column is read at item rows, not record rows."""
    program = native_program(
        ColumnBatch(
            n=2,
            values={"items.v": np.array([5, 6], dtype=np.int64)},
            lengths={"items": np.array([2, 0], dtype=np.int64)},
        ),
        resolve_spec(
            GenerateRequest.model_validate(
                {
                    "entity": "x",
                    "schema": {
                        "fields": [
                            {
                                "name": "items",
                                "type": "ARRAY",
                                "nested_fields": [{"name": "v", "type": "INTEGER"}],
                            }
                        ]
                    },
                    "count": 1,
                }
            )
        ),
        [("_index", (range(2), False))],
    )
    assert native is not None
    text, offsets = native.render(program, 2, b",", orjson.dumps)
    first, second = b'{"_index":0,"items":[{"v":5},{"v":6}]},', b'{"_index":1,"items":[]},'
    assert text == first + second
    assert np.frombuffer(offsets, dtype=np.int64).tolist() == [0, len(first), len(text)]


def test_the_python_path_alone_still_renders(python_only: None) -> None:
    plan = plan_request(GenerateRequest(entity="user", count=120, seed=2))
    lines = b"".join(stream_output(plan, OutputFormat.NDJSON)).splitlines()
    assert [orjson.loads(line)["_index"] for line in lines] == list(range(120))
