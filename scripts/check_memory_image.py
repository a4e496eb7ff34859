"""The memory functions' container image built without a container engine, then run as Lambda
would run it. CI runs it after `sam build` (which skips the image: no Docker engine here):

    python3.12 scripts/check_memory_image.py [ROOT]      # ROOT: .aws-sam/memory-image

``functions/memory.Dockerfile``'s own instructions are carried out against ROOT, a folder that
stands for the image's filesystem:

- ``FROM`` the Lambda Python 3.12 base: this machine's Python 3.12, as a virtual environment at
  ``ROOT/var/lang`` (where the base image keeps its Python), ``LAMBDA_TASK_ROOT`` at
  ``ROOT/var/task``.
- ``COPY``: from the repository (the build context), leaving out what ``.dockerignore`` does.
- ``RUN``: each ``&&``-joined command with the image's paths under ROOT; ``pip`` and ``python``
  are the image's. ``dnf install`` is the one command not carried out: this machine must already
  have what it would install (gcc). ``dnf remove`` and ``dnf clean`` are skipped. Any other
  command is refused, so the Dockerfile cannot grow a step this check silently skips.

Then each function the template builds from this Dockerfile (rag, hybrid) is run from the task
root by the image's Python, as Lambda runs ``ImageConfig.Command``: the memory seeded from the
shipped corpus in one process (what a deployment's ``tda rag seed`` does), then a fresh process
imports the handler (its init) and serves a request, with the vector store in a local folder
instead of S3; hybrid asks the scripted OpenAI-compatible server (check_built's) for its model
half. It fails if the handler cannot import or serve, or serves by another path; if the
renderer is not the compiled one; if a dataclass method is compiled at its init or its request
(but for the model SDK's lazily imported modules, at its first call: counted); or if a YAML
parser is imported.

Not shown here: the base image's own OS (Amazon Linux 2023; the renderer's glibc is checked
against its 2.34 by build_layer.py), Lambda's runtime interface client, and the image's size as
a registry counts it (the folder's size is printed).
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from check_built import (  # noqa: E402  (a script beside this one)
    lambda_environment,
    run_child,
    scripted_model,
    size_of,
)

DOCKERFILE = REPO / "functions" / "memory.Dockerfile"
BASE_IMAGE = "public.ecr.aws/lambda/python:3.12"
TASK_ROOT = "/var/task"
# What `dnf install` would bring, and the command this machine must have instead.
DNF_PACKAGES = {"gcc": "gcc"}
# The requests each function serves, by handler; the memory answers the rag one.
REQUEST = {"entity": "cart", "count": 5, "seed": 7, "learn_from_history": True}
EVENTS = {
    "rag_app.lambda_handler": {"request": REQUEST, "routing": {"path": "rag", "reason": "image"}},
    "hybrid_app.lambda_handler": {
        "request": REQUEST,
        "routing": {"path": "hybrid", "reason": "image"},
    },
}
# The path each must serve by: hybrid asks the scripted OpenAI-compatible server (check_built's).
SERVED_BY = {"rag_app.lambda_handler": "rag", "hybrid_app.lambda_handler": "hybrid"}

SEED = r"""
import sys
sys.path.insert(0, sys.argv[1])
from tda import wiring
from tda.paths.retrieval.corpus import seed_corpus
wiring.install_once()
memory = wiring.memory()
loaded = seed_corpus()
for collection, entries in loaded.entries.items():
    memory.add(collection, entries)
    memory.refresh(collection)
print(loaded.total)
"""

SERVE = r"""
import importlib, json, sys, time
task, handler, event = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path.insert(0, task)
module_name, function = handler.rsplit(".", 1)
started = time.perf_counter()
module = importlib.import_module(module_name)  # the function's init
imported = (time.perf_counter() - started) * 1000
# Every dataclass method of the init came compiled from the image's store.
import tda.dataclass_bytecode as methods
assert methods.STORE.is_file(), f"no compiled dataclass methods at {methods.STORE}"
assert not methods.missed, f"{len(methods.missed)} dataclass methods compiled at its init"
class Context:
    function_name = "image"; memory_limit_in_mb = 2048; aws_request_id = "image"
    invoked_function_arn = "arn:aws:lambda:us-east-1:1:function:image"
    def get_remaining_time_in_millis(self): return 30000
try:
    answer = getattr(module, function)(event, Context())
    meta = answer["metadata"]
    served = {"record_count": answer["record_count"], "path": meta["generation_path"],
              "retrieved": (meta.get("rag") or {}).get("retrieved", 0),
              "model_calls": (meta.get("llm") or {}).get("calls", 0),
              "fallback": meta.get("fallback_reason", "")}
except Exception as exc:  # the workflow's Retry and Catch see what a handler raises
    served = {"raised": type(exc).__name__, "message": str(exc)[:200]}
import tda.paths.traditional._textrender as renderer
assert renderer.__file__.endswith(".so"), f"the renderer is not compiled: {renderer.__file__}"
if served.get("model_calls"):  # the model SDK's lazily imported modules, at its first call
    served["sdk_methods_compiled"] = len(methods.missed)
else:
    assert not methods.missed, f"{len(methods.missed)} dataclass methods compiled at run time"
assert "yaml" not in sys.modules, "a YAML parser was imported: the data files' twins are missing"
print(json.dumps({"import_ms": round(imported), **served}))
"""


class ImageBuildError(RuntimeError):
    """A Dockerfile step this check cannot carry out, or one that failed."""


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined, comments left out."""
    steps: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        word, _, rest = pending.partition(" ")
        steps.append((word.upper(), rest.strip()))
        pending = ""
    return steps


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether ``.dockerignore`` leaves the context's path ``relative`` out (its patterns:
    ``dir/``, ``**/name``, globs)."""
    parts = relative.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if pattern.startswith("**/"):
            tail = pattern[3:]
            if any(fnmatch.fnmatch(part, tail) for part in parts):
                return True
        elif any(fnmatch.fnmatch("/".join(parts[: i + 1]), pattern) for i in range(len(parts))):
            return True
    return False


class EnginelessBuild:
    """The Dockerfile's instructions carried out against ``root``."""

    def __init__(self, root: Path, python: str) -> None:
        self.root = root
        self.python = python
        self.env = {"LAMBDA_TASK_ROOT": TASK_ROOT}
        self.command: list[str] = []
        self.notes: list[str] = []
        patterns = (REPO / ".dockerignore").read_text().splitlines()
        self.ignore = [p.strip() for p in patterns if p.strip() and not p.startswith("#")]

    def inside(self, path: str) -> Path:
        """An image path as a path under the root."""
        return self.root / path.lstrip("/")

    def expand(self, text: str) -> str:
        for name, value in self.env.items():
            text = text.replace("${" + name + "}", value).replace("$" + name, value)
        return text

    def run(self, steps: list[tuple[str, str]]) -> None:
        for word, arguments in steps:
            if word == "FROM":
                self.base(arguments)
            elif word == "COPY":
                self.copy(shlex.split(self.expand(arguments)))
            elif word == "RUN":
                for command in self.expand(arguments).split("&&"):
                    self.shell(shlex.split(command))
            elif word == "CMD":
                self.command = json.loads(arguments)
            else:
                raise ImageBuildError(f"{word}: not an instruction this check carries out")

    def base(self, image: str) -> None:
        if image != BASE_IMAGE:
            raise ImageBuildError(f"FROM {image}: this check stands in for {BASE_IMAGE} only")
        if self.root.exists():
            shutil.rmtree(self.root)
        self.inside(TASK_ROOT).mkdir(parents=True)
        subprocess.run([self.python, "-m", "venv", str(self.inside("/var/lang"))], check=True)

    def copy(self, words: list[str]) -> None:
        if any(word.startswith("--") for word in words):
            raise ImageBuildError(f"COPY {' '.join(words)}: options are not carried out")
        *sources, target = words
        for source in sources:
            origin = REPO / source
            destination = self.inside(target)
            if origin.is_dir():
                for path in sorted(origin.rglob("*")):
                    relative = path.relative_to(REPO).as_posix()
                    if path.is_file() and not ignored(relative, self.ignore):
                        placed = destination / path.relative_to(origin)
                        placed.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(path, placed)
            else:
                placed = destination / origin.name if target.endswith("/") else destination
                placed.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, placed)

    def shell(self, words: list[str]) -> None:
        program, *rest = words
        if program == "dnf":
            self.dnf(rest)
            return
        mapped = [str(self.inside(w)) if w.startswith("/") else w for w in rest]
        if program == "pip":
            # pip's cache is left on: --no-cache-dir changes nothing installed.
            mapped = [w for w in mapped if w != "--no-cache-dir"]
            command = [str(self.inside("/var/lang/bin/python")), "-m", "pip", *mapped]
        elif program == "python":
            command = [str(self.inside("/var/lang/bin/python")), *mapped]
        elif program == "rm":
            command = ["rm", *mapped]
        else:
            raise ImageBuildError(f"RUN {program}: not a command this check carries out")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ImageBuildError(f"RUN {' '.join(words)} failed:\n{done.stderr[-3000:]}")

    def dnf(self, words: list[str]) -> None:
        verb, *rest = words
        packages = [w for w in rest if not w.startswith("-")]
        if verb == "install":
            for package in packages:
                tool = DNF_PACKAGES.get(package)
                if tool is None or shutil.which(tool) is None:
                    raise ImageBuildError(f"dnf install {package}: not on this machine")
                self.notes.append(f"dnf install {package}: this machine's {shutil.which(tool)}")
        elif verb not in ("remove", "clean"):
            raise ImageBuildError(f"dnf {verb}: not carried out here")


def image_functions(template: Path) -> list[tuple[str, str]]:
    """(function, handler) for each function the template builds from this Dockerfile."""
    found = []
    text = template.read_text()
    for block in re.split(r"\n  (?=\w+:\n    Type: )", text):
        name = block.split(":", 1)[0].strip()
        if "Dockerfile: functions/memory.Dockerfile" in block:
            command = re.search(r'Command: \["([^"]+)"\]', block)
            if command is None:
                raise ImageBuildError(f"{name}: no ImageConfig.Command")
            found.append((name, command.group(1)))
    return found


def main(root: Path) -> int:
    with scripted_model() as model_url:
        return build_and_run(root, model_url)


def build_and_run(root: Path, model_url: str) -> int:
    build = EnginelessBuild(root.resolve(), sys.executable)
    try:
        build.run(instructions(DOCKERFILE))
    except ImageBuildError as exc:
        print(f"memory image: FAILED, {exc}")
        return 1
    for note in build.notes:
        print(f"memory image: {note}")
    print(f"memory image: built in {root} ({size_of(root) / 2**20:.0f} MB), CMD {build.command}")
    functions = image_functions(REPO / "template.yaml")
    if not functions:
        print("memory image: FAILED, no function in template.yaml is built from it")
        return 1
    python = str(build.inside("/var/lang/bin/python"))
    task = str(build.inside(TASK_ROOT))
    for name, handler in functions:
        with tempfile.TemporaryDirectory() as home:
            env = lambda_environment(
                home,
                VECTOR_STORE_URL=f"{home}/vectors",  # S3 in AWS
                LLM_BASE_URL=model_url,
                LLM_MODEL="scripted",
            )
            seeded = run_child(
                [python, "-c", SEED, task], env, f"{name}: FAILED to seed the memory"
            )
            if seeded is None:
                return 1
            event = json.dumps(EVENTS[handler])
            served = run_child([python, "-c", SERVE, task, handler, event], env, f"{name}: FAILED")
            if served is None:
                return 1
            report = json.loads(served.strip().splitlines()[-1])
            print(f"{name} ({handler}, {seeded.strip()} entries seeded): {report}")
            if "raised" in report or report.get("record_count") != REQUEST["count"]:
                print(f"{name}: FAILED, no {REQUEST['count']} records served")
                return 1
            if report["path"] != SERVED_BY[handler]:
                print(f"{name}: FAILED, served by {report['path']}, not {SERVED_BY[handler]}")
                return 1
    return 0


if __name__ == "__main__":
    if sys.version_info[:2] != (3, 12):
        sys.exit(f"run with Lambda's Python, 3.12 (not {sys.version.split()[0]})")
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/memory-image")))
