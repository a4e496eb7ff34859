"""The registered entities, kept as data files under ``entities/`` (one YAML file each)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from tda.domain.contract import SchemaInfo
from tda.domain.data_file import load_data_file
from tda.domain.errors import InvalidRequestError
from tda.domain.schema.loader import spec_from_data
from tda.domain.schema.spec import EntitySpec

ENTITY_DIR = Path(__file__).with_name("entities")


@cache
def _entity_files() -> tuple[str, ...]:
    return tuple(sorted(name for name in os.listdir(ENTITY_DIR) if name.endswith(".yaml")))


@cache
def _entity_in(file_name: str) -> EntitySpec:
    return spec_from_data(load_data_file(ENTITY_DIR / file_name))


@cache
def _all_entities() -> dict[str, EntitySpec]:
    entities: dict[str, EntitySpec] = {}
    for file_name in _entity_files():
        spec = _entity_in(file_name)
        entities[spec.name] = spec
    return entities


def _named(name: str) -> EntitySpec | None:
    """The entity ``name``. Each file is named for its entity, so the one file of that name is
    read first: a one-off request reads one entity, not all six (≈1.5 ms of a one-record run)."""
    file_name = f"{name}.yaml"
    if file_name in _entity_files():
        spec = _entity_in(file_name)
        if spec.name == name:
            return spec
    return _all_entities().get(name)


def entity_names() -> list[str]:
    return sorted(_all_entities())


def get_entity(name: str, field: str = "entity") -> EntitySpec:
    """The registered entity ``name``; an InvalidRequestError naming ``field`` if there is none."""
    spec = _named(name.strip().lower())
    if spec is None:
        known = ", ".join(entity_names())
        raise InvalidRequestError.single(field, f"unknown entity '{name}' (known: {known})")
    return spec


def list_schemas(domain: str | None = None) -> list[SchemaInfo]:
    """Summaries of the registered entities, optionally of one domain only."""
    wanted = (domain or "").strip().lower()
    return [
        SchemaInfo(
            name=spec.name,
            domain=spec.domain,
            description=spec.description,
            fields=spec.top_level_names(),
        )
        for spec in _all_entities().values()
        if not wanted or spec.domain == wanted
    ]
