"""Type stub of the compiled renderer (``_textrender.c``, built by ``pip install``)."""

from collections.abc import Callable
from typing import Any

def render(
    program: tuple[Any, ...], n: int, sep: bytes, fallback: Callable[[Any], bytes]
) -> tuple[bytes, bytes]: ...
