"""template.yaml and the ASL agree: every substitution is defined, every function exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tda_local.workflows import ROOT, functions, load_template, resolve_definition, state_machines

TEMPLATE = load_template()


def test_every_substitution_in_the_asl_is_defined_for_every_state_machine() -> None:
    machines = state_machines(TEMPLATE)
    assert set(machines) == {"SyncStateMachine", "JobStateMachine"}
    for machine in machines.values():
        text = (ROOT / machine.definition_uri).read_text()
        used = set(re.findall(r"\$\{(\w+)\}", text))
        assert used and used <= set(machine.substitutions), machine.logical_id
        resolved = resolve_definition(machine, functions(TEMPLATE))
        assert "${" not in resolved


def test_every_function_the_asl_names_exists_with_a_handler() -> None:
    fns = functions(TEMPLATE)
    named = set()
    for machine in state_machines(TEMPLATE).values():
        definition = json.loads(resolve_definition(machine, fns))
        named |= {
            m.rsplit(":", 1)[-1]
            for m in re.findall(r'"FunctionName": "([^"]+)"', json.dumps(definition))
        }
    assert named == {
        "RouterFunction",
        "TraditionalFunction",
        "LlmFunction",
        "RagFunction",
        "HybridFunction",
        "JobsFunction",
    }
    for name in named:
        assert (ROOT / "functions" / fns[name].code_dir / "app.py").is_file()


def test_every_function_folder_is_in_the_template() -> None:
    folders = {p.parent.name for p in (ROOT / "functions").glob("*/app.py")}
    assert folders == {f.code_dir for f in functions(TEMPLATE).values()}


def test_both_state_machines_use_the_one_definition_file() -> None:
    uris = {m.definition_uri for m in state_machines(TEMPLATE).values()}
    assert uris == {"statemachines/workflow.asl.json"}
    assert Path(ROOT / "statemachines" / "workflow.asl.json").is_file()
