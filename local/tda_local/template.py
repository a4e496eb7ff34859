"""``template.yaml``, read as the local runtime needs it: functions, state machines, environment.

CloudFormation's short tags (``!Ref``, ``!GetAtt``, ``!Sub``...) are kept as plain values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Path(os.environ.get("TDA_TEMPLATE", ROOT / "template.yaml"))


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !GetAtt, !Sub...) kept as plain values."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {suffix: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)
    return loaded


def global_environment(path: Path = TEMPLATE) -> dict[str, str]:
    """The environment the template's ``Globals`` give every function."""
    variables = load_template(path).get("Globals", {}).get("Function", {}).get("Environment", {})
    return {name: str(value) for name, value in variables.get("Variables", {}).items()}
