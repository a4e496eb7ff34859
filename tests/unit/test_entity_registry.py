"""The registered entities: one found by reading its own file alone, the same object however
it is found, and every file named for the entity it holds."""

from __future__ import annotations

import pytest

from tda.domain.data_file import load_data_file
from tda.domain.errors import InvalidRequestError
from tda.domain.schema.registry import ENTITY_DIR, entity_names, get_entity, list_schemas

from ..conftest import printed_in_a_fresh_interpreter


def test_every_entity_file_is_named_for_its_entity() -> None:
    # What lets a request for one entity read one file: the lookup tries <name>.yaml first.
    for path in sorted(ENTITY_DIR.glob("*.yaml")):
        assert load_data_file(path)["name"] == path.stem, path.name
    assert entity_names() == sorted(p.stem for p in ENTITY_DIR.glob("*.yaml"))


def test_an_entity_is_one_object_whether_asked_for_first_or_listed_first() -> None:
    # Caches downstream key on the spec (pools, engines): two copies of one entity would
    # build everything twice.
    code = (
        "import json\n"
        "from tda.domain.schema import registry\n"
        "read = []\n"
        "load = registry.load_data_file\n"
        "registry.load_data_file = lambda path: read.append(path.name) or load(path)\n"
        "first = registry.get_entity(' Cart ')\n"
        "alone = list(read)\n"
        "registry.list_schemas()\n"
        "print(json.dumps({'alone': alone, 'same': registry.get_entity('cart') is first,\n"
        "                  'read': sorted(read)}))\n"
    )
    seen = printed_in_a_fresh_interpreter(code)
    assert seen["alone"] == ["cart.yaml"]  # a one-off request reads its entity's file only
    assert seen["same"] is True
    assert seen["read"] == sorted(f"{name}.yaml" for name in entity_names())  # each once


def test_an_unknown_entity_still_names_every_known_one() -> None:
    with pytest.raises(InvalidRequestError) as refused:
        get_entity("../cart", field="entity")
    message = str(refused.value)
    assert "unknown entity '../cart'" in message
    assert all(name in message for name in entity_names())
    assert {info.name for info in list_schemas()} == set(entity_names())
