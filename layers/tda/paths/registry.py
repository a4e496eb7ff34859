"""Which generator serves a path, imported only when first asked for (cold start is product:
a model path's SDK is never loaded by a process that does not use it).

A path with no generator in this build, or one that says it cannot serve here, falls back to
traditional generation, and the response says so in the words of what actually happened.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from tda.domain.routing import GenerationPath
from tda.paths.base import Generator

NOT_IN_THIS_BUILD = "is not available in this build yet"


def _traditional() -> Generator:
    from tda.paths.traditional.generator import TraditionalGenerator

    return TraditionalGenerator()


# The llm, rag and hybrid generators slot in here with their issues.
_FACTORIES: dict[GenerationPath, Callable[[], Generator]] = {
    GenerationPath.TRADITIONAL: _traditional,
}


def register(path: GenerationPath, factory: Callable[[], Generator] | None) -> None:
    """Put ``factory``'s generator behind ``path`` (None: no generator), replacing the one there:
    how a path slots in, and how tests stand one in."""
    if factory is None:
        _FACTORIES.pop(path, None)
    else:
        _FACTORIES[path] = factory
    generator_for.cache_clear()


@cache
def generator_for(path: GenerationPath) -> Generator | None:
    factory = _FACTORIES.get(path)
    return factory() if factory is not None else None


def traditional() -> Generator:
    found = generator_for(GenerationPath.TRADITIONAL)
    assert found is not None, "traditional generation is always built"
    return found


def unavailable_reason(path: GenerationPath) -> str | None:
    """None if ``path`` can serve here, else why not."""
    generator = generator_for(path)
    if generator is None:
        return NOT_IN_THIS_BUILD
    return generator.unavailable_reason()


def serving(path: GenerationPath) -> tuple[Generator, str]:
    """The generator that serves a request routed to ``path``, and the fallback reason ('' when
    the routed path serves itself)."""
    reason = unavailable_reason(path)
    if reason is None:
        found = generator_for(path)
        assert found is not None
        return found, ""
    return traditional(), fallback_reason(path, reason)


def fallback_reason(path: GenerationPath, reason: str) -> str:
    """What a response says when traditional generation served a request routed to ``path``."""
    return f"the {path.value} path {reason}; served by traditional generation"


def availability() -> dict[GenerationPath, str | None]:
    """Each path's ``unavailable_reason`` (None: it serves), for health checks."""
    return {path: unavailable_reason(path) for path in GenerationPath}


def limitation(path: GenerationPath) -> str | None:
    """What ``path`` cannot do here though it serves, for health checks: a generator may say
    (the memory paths without their embedding model); None when it does not."""
    said = getattr(generator_for(path), "limitation", None)
    return said() if said is not None else None
