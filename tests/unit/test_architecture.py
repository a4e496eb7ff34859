"""The house's rules hold (``.importlinter``): layers, a pure domain, no import cycles.

CI runs ``lint-imports`` too; this test keeps the rules in the suite a developer runs, and
checks that the checker itself still catches a break (a contract that cannot fail is no rule).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")  # import-linter's command


def lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_import_contract_is_kept() -> None:
    run = lint_imports(ROOT / ".importlinter")
    assert run.returncode == 0, run.stdout[-4000:]
    assert "0 broken" in run.stdout


def test_a_broken_contract_fails_the_check(tmp_path: Path) -> None:
    # The http edge does import the use cases: a contract forbidding it must break.
    config = tmp_path / "broken.ini"
    config.write_text(
        textwrap.dedent(
            """
            [importlinter]
            root_package = tda

            [importlinter:contract:upside-down]
            name = upside down
            type = forbidden
            source_modules = tda.http
            forbidden_modules = tda.app
            """
        )
    )
    run = lint_imports(config)
    assert run.returncode != 0 and "BROKEN" in run.stdout


# The environment is read by the settings and at the edges; the core is handed what it needs.
ENVIRONMENT_READERS = {
    "app/settings.py",
    "app/environment.py",  # the settings' table: each one's name, default and range
    "wiring.py",
    "adapters/aws_clients.py",  # the AWS environment a kept boto3 client was made for
    "adapters/emf_metrics.py",  # the names the template gives a handler's metrics
    "pydantic_plugins.py",  # the setting pydantic itself reads, before any model is built
    "adapters/embeddings.py",  # ONNX Runtime's telemetry opt-out, set before its import
}


def test_the_environment_is_read_only_by_the_settings_and_the_edges() -> None:
    library = ROOT / "layers" / "tda"
    readers = {
        str(path.relative_to(library))
        for path in library.rglob("*.py")
        if "os.environ" in (text := path.read_text()) or "getenv(" in text
    }
    assert readers <= ENVIRONMENT_READERS, sorted(readers - ENVIRONMENT_READERS)


# What the core layer does not carry (layers/requirements.txt): the model SDKs' layer
# (layers/model-sdks.txt, the packages it adds), the memory image's, and the local runtime's.
NOT_IN_THE_CORE_LAYER = (
    "anthropic", "openai", "httpx2", "httpcore2", "redis", "docstring_parser", "jiter",
    "truststore", "lancedb", "pyarrow", "onnxruntime", "tokenizers", "weaviate", "grpc",
    "uvicorn", "moto", "httpx",
)  # fmt: skip

IMPORT_EVERY_MODULE_WITHOUT = """
import importlib, importlib.abc, pkgutil, sys
blocked = set(sys.argv[1].split(","))
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Absent())
import tda
failed = []
for module in pkgutil.walk_packages(tda.__path__, "tda."):
    try:
        importlib.import_module(module.name)
    except ImportError as exc:
        failed.append(f"{module.name}: {exc}")
print("\\n".join(failed))
"""


def test_every_module_imports_with_only_what_the_core_layer_carries() -> None:
    """``sam build`` imports every module of the package with the core layer's packages alone
    (layers/build_layer.py records their dataclass methods): a module importing an SDK at its
    top (httpx2, in tda/adapters/model_http.py) failed the build, and only CI's build saw it."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE_WITHOUT, ",".join(NOT_IN_THE_CORE_LAYER)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT / "layers",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", done.stdout
