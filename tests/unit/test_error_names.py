"""Every error name the workflow's Retry and Catch match is a class the code can raise.

Lambda reports an exception by its class's own name (``errorType``); a Retry on a name no class
has never fires, and nothing else would notice (STYLE.md: the cautionary find). This reads the
ASL itself.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tda
from tda.domain.errors import TdaError, TransientError

ASL = Path(__file__).resolve().parents[2] / "statemachines" / "workflow.asl.json"
# Names the service itself reports, not our classes (AWS's own and the States.* wildcards).
SERVICE_PREFIXES = ("States.", "Lambda.")


def error_lists(node: Any, kind: str) -> Iterator[list[str]]:
    """Every ``ErrorEquals`` under a ``Retry`` or ``Catch`` (``kind``), however deep (Map, Parallel)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == kind:
                yield from (entry["ErrorEquals"] for entry in value)
            else:
                yield from error_lists(value, kind)
    elif isinstance(node, list):
        for item in node:
            yield from error_lists(item, kind)


def our_errors() -> dict[str, type[BaseException]]:
    for module in pkgutil.walk_packages(tda.__path__, "tda."):
        if not module.name.endswith("_textrender"):
            importlib.import_module(module.name)
    found: dict[str, type[BaseException]] = {}
    pending: list[type[BaseException]] = [TdaError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def test_every_retried_or_caught_name_is_one_of_our_error_classes() -> None:
    definition = json.loads(ASL.read_text())
    classes = our_errors()
    retried = {n for names in error_lists(definition, "Retry") for n in names}
    caught = {n for names in error_lists(definition, "Catch") for n in names}
    assert retried, "the workflow retries nothing: has the ASL moved?"
    ours = {n for n in retried | caught if not n.startswith(SERVICE_PREFIXES)}
    assert ours, "no name of ours in the ASL: has the ASL moved?"
    missing = sorted(ours - classes.keys())
    assert not missing, f"the ASL names errors no class defines: {missing}"
    # A retried name is transient by its class: a bad request retried would only fail again.
    for name in ours & retried:
        assert issubclass(classes[name], TransientError), f"{name} is retried but not transient"


def test_each_error_class_says_what_it_means() -> None:
    for name, cls in our_errors().items():
        assert name.endswith("Error"), name
        assert cls.__doc__ and cls.__doc__.strip(), f"{name} has no docstring"
