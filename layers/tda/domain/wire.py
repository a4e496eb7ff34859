"""Contract dataclasses read from JSON-shaped data and written back to it.

The contract used to be pydantic models. pydantic's model classes, field and schema machinery
were a quarter of a one-record ``tda generate`` (0.20 → 0.15 s of CPU without them) and a third
of a Lambda handler's cold import (163 → 105 ms). Under them, pydantic_core's validator costs
≈13 ms of CPU to import.

So a contract class is a plain dataclass (:class:`WireModel`). Its validator is a pydantic_core
schema, built from the class's annotations the first time that class is validated. It is the
same core with the same lax rules (``"5"`` is a count, ``true`` is not), and it gives the error
types and messages the models gave (``count: Input should be a valid integer``). Writing back is
a walk over the fields.

Annotations say what pydantic's did: ``Annotated[int, Strict()]`` for ``StrictInt``,
``Annotated[int, Range(ge=0)]`` for ``Field(ge=0)``, ``Annotated[X, Before(f)]`` for a
``field_validator(mode="before")``.
"""

# No ``from __future__ import annotations``: the builder reads each class's annotations as
# objects; as text they would be compiled and evaluated at every first use.
import dataclasses
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal, Self, Union, get_args, get_origin

from tda.domain.errors import InvalidRequestError


@dataclass(frozen=True)
class Strict:
    """No lax conversion: an int field refuses ``"5"`` and ``5.0``, a bool field ``1``."""


@dataclass(frozen=True)
class Range:
    """Bounds on an integer field (``Field(ge=..., le=...)``)."""

    ge: int | None = None
    le: int | None = None


@dataclass(frozen=True)
class Before:
    """``function`` sees the raw value first; what it returns is validated."""

    function: Callable[[Any], Any]


def to_camel(name: str) -> str:
    """``nested_fields`` → ``nestedFields``: proto3 JSON's names for the proto's fields."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class WireModel:
    """A contract dataclass. Subclasses may set how they read the wire:

    - ``camel_aliases``: camelCase names accepted beside the Python names (the proto3 JSON
      names, so a protobuf ``MessageToJson`` reads as well as the seed README's bodies).
    - ``extra``: ``"forbid"`` refuses unknown fields by name; ``"ignore"`` drops them (the
      workflow's payloads, where Step Functions may add fields).
    """

    camel_aliases: ClassVar[bool] = True
    extra: ClassVar[str] = "forbid"

    @classmethod
    def model_validate(cls, data: Any) -> Self:
        """``data`` as this class, or ``pydantic_core.ValidationError`` naming each bad field."""
        result: Self = validator(cls).validate_python(data)
        return result

    @classmethod
    def parse(cls, data: Any) -> Self:
        """``data`` as this class, or an :class:`InvalidRequestError` naming each bad field."""
        from pydantic_core import ValidationError

        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidRequestError.from_validation(exc) from None

    def model_dump(self, mode: str = "python", exclude_none: bool = False) -> dict[str, Any]:
        """The fields by Python name; ``mode="json"`` writes enums as their values."""
        dumped: dict[str, Any] = _dumped(self, mode == "json", exclude_none)
        return dumped

    def model_copy(self, update: dict[str, Any]) -> Self:
        return dataclasses.replace(self, **update)  # type: ignore[type-var]


_SCALARS = (str, int, float, bool, type(None))
_field_names: dict[type, tuple[str, ...]] = {}


def _dumped(value: Any, as_json: bool, exclude_none: bool) -> Any:
    kind = type(value)
    if kind in _SCALARS:  # most values: checked first
        return value
    if isinstance(value, WireModel):
        names = _field_names.get(kind)
        if names is None:
            fields = dataclasses.fields(value)  # type: ignore[arg-type]
            names = _field_names[kind] = tuple(item.name for item in fields)
        out = {}
        for name in names:
            held = getattr(value, name)
            if held is None and exclude_none:
                continue
            out[name] = _dumped(held, as_json, exclude_none)
        return out
    if isinstance(value, list):
        return [_dumped(item, as_json, exclude_none) for item in value]
    if isinstance(value, dict):
        return {key: _dumped(item, as_json, exclude_none) for key, item in value.items()}
    if as_json and isinstance(value, Enum):
        return value.value
    return value


_validators: dict[type, Any] = {}


def validator(cls: type[WireModel]) -> Any:
    """The class's pydantic_core validator, built at its first use and kept."""
    built = _validators.get(cls)
    if built is None:
        from pydantic_core import SchemaValidator

        built = _validators[cls] = SchemaValidator(core_schema(cls))
    return built


def core_schema(cls: type[WireModel]) -> Any:
    """The class's pydantic_core schema: every contract class it holds is a definition, by its
    class name (a field may hold its own class: a schema field's nested fields)."""
    from pydantic_core import core_schema as cs

    definitions: dict[str, Any] = {}
    _class_schema(cls, definitions)
    return cs.definitions_schema(
        cs.definition_reference_schema(cls.__name__), list(definitions.values())
    )


def _class_schema(cls: type[WireModel], definitions: dict[str, Any]) -> Any:
    from pydantic_core import core_schema as cs

    name = cls.__name__
    if name not in definitions:
        definitions[name] = {}  # taken: a field that holds this class refers to it
        hints = _annotations(cls)
        fields = {}
        for item in dataclasses.fields(cls):  # type: ignore[arg-type]
            schema = _field_schema(hints[item.name], definitions)
            if item.default is not dataclasses.MISSING:
                schema = cs.with_default_schema(schema, default=item.default)
            elif item.default_factory is not dataclasses.MISSING:
                schema = cs.with_default_schema(schema, default_factory=item.default_factory)
            alias = to_camel(item.name) if cls.camel_aliases else item.name
            fields[item.name] = cs.typed_dict_field(
                schema,
                required=schema["type"] != "default",
                validation_alias=alias if alias != item.name else None,
            )
        config = cs.CoreConfig(title=name, validate_by_name=True, validate_by_alias=True)
        checked = cs.typed_dict_schema(
            fields,
            cls=cls,  # read by pydantic's JSON Schema only: the title, the docstring
            cls_name=name,
            extra_behavior=cls.extra,  # type: ignore[arg-type]
            config=config,
        )
        definitions[name] = cs.no_info_after_validator_function(
            lambda data: cls(**data), checked, ref=name
        )
    return cs.definition_reference_schema(name)


def _annotations(cls: type) -> dict[str, Any]:
    """The class's field annotations as objects; a name in quotes (a class that holds itself)
    looked up in the class's module."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        hints.update(getattr(klass, "__annotations__", {}))
    module = vars(sys.modules[cls.__module__])
    return {name: _resolved(hint, module) for name, hint in hints.items()}


def _resolved(hint: Any, module: dict[str, Any]) -> Any:
    if isinstance(hint, str):
        return module[hint]
    origin, args = get_origin(hint), get_args(hint)
    if origin is list and isinstance(args[0], str):
        return types.GenericAlias(list, (module[args[0]],))
    return hint


def _field_schema(hint: Any, definitions: dict[str, Any]) -> Any:
    """The schema of a field of this type."""
    from pydantic_core import core_schema as cs

    if get_origin(hint) is not Annotated:
        return _type_schema(hint, definitions)
    base, *marks = get_args(hint)
    strict = any(isinstance(mark, Strict) for mark in marks)
    limits = next((mark for mark in marks if isinstance(mark, Range)), None)
    schema = _type_schema(base, definitions, strict, limits)
    for mark in marks:
        if isinstance(mark, Before):
            schema = cs.no_info_before_validator_function(mark.function, schema)
    return schema


def _type_schema(
    hint: Any, definitions: dict[str, Any], strict: bool = False, limits: Range | None = None
) -> Any:
    from pydantic_core import core_schema as cs

    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        kinds = [arg for arg in args if arg is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"a wire field holds one type or None, not {hint}")
        inner = _field_schema(kinds[0], definitions)
        return cs.nullable_schema(inner) if len(kinds) < len(args) else inner
    if origin is list:
        return cs.list_schema(_field_schema(args[0], definitions))
    if origin is dict:
        return cs.dict_schema(cs.str_schema(), _field_schema(args[1], definitions))
    if origin is Literal:
        return cs.literal_schema(list(args))
    if hint is Any:
        return cs.any_schema()
    if hint is str:
        return cs.str_schema()
    if hint is bool:
        return cs.bool_schema(strict=strict or None)
    if hint is int:
        ge, le = (limits.ge, limits.le) if limits else (None, None)
        return cs.int_schema(strict=strict or None, ge=ge, le=le)
    if hint is float:
        return cs.float_schema()
    if isinstance(hint, type) and issubclass(hint, Enum):
        if hint.__name__ not in definitions:  # a definition: documented once, by name
            sub_type: Literal["str"] | None = "str" if issubclass(hint, str) else None
            enum = cs.enum_schema(hint, list(hint), sub_type=sub_type, ref=hint.__name__)
            definitions[hint.__name__] = enum
        return cs.definition_reference_schema(hint.__name__)
    if isinstance(hint, type) and issubclass(hint, WireModel):
        return _class_schema(hint, definitions)
    raise TypeError(f"no wire schema for {hint!r}")
