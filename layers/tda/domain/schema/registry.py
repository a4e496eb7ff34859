"""The registered entities, kept as data files under ``entities/`` (one YAML file each)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tda.domain.contract import SchemaInfo
from tda.domain.data_file import load_data_file
from tda.domain.errors import InvalidRequestError
from tda.domain.schema.loader import spec_from_data
from tda.domain.schema.spec import EntitySpec

ENTITY_DIR = Path(__file__).with_name("entities")


@cache
def _all_entities() -> dict[str, EntitySpec]:
    entities: dict[str, EntitySpec] = {}
    for path in sorted(ENTITY_DIR.glob("*.yaml")):
        data = load_data_file(path)
        spec = spec_from_data(data)
        entities[spec.name] = spec
    return entities


def entity_names() -> list[str]:
    return sorted(_all_entities())


def get_entity(name: str, field: str = "entity") -> EntitySpec:
    """The registered entity ``name``; an InvalidRequestError naming ``field`` if there is none."""
    spec = _all_entities().get(name.strip().lower())
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
