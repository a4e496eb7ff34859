"""The layer's last steps, run by ``make build-CoreLayer`` with the layer's Python (3.12):

python build_layer.py check-python     # refuse any other Python, saying how to name it
python build_layer.py finish SITE      # copy tda, compile the renderer, write bytecode
python build_layer.py bytecode SITE    # write bytecode (the model SDKs' layer)
python build_layer.py image ROOT      # the memory image's task root: as finish, tda already there
"""

from __future__ import annotations

import compileall
import os
import py_compile
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

LAMBDA_PYTHON = (3, 12)
LAMBDA_GLIBC = (2, 34)  # Amazon Linux 2023, the python3.12 runtime's OS
RENDERER = Path("tda/paths/traditional/_textrender.c")
# Run in a fresh process of the layer's Python: every module of the package imported with the
# dataclass methods' texts recorded, then stored compiled (tda/dataclass_bytecode.py).
RECORD_DATACLASSES = """
import importlib, pkgutil, sys
sys.path.insert(0, sys.argv[1])
from tda import dataclass_bytecode
texts = dataclass_bytecode.record()
import tda
for module in pkgutil.walk_packages(tda.__path__, "tda."):
    importlib.import_module(module.name)
# What the memory's adapters import at a function's init and the model clients at their first
# call, where installed (the memory image): LanceDB builds ≈90 dataclass methods at its
# import; the SDKs, most of the ≈80 the first model call builds.
for name in ("lancedb", "pyarrow.compute", "onnxruntime", "tokenizers", "openai", "anthropic"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
dataclass_bytecode.save(texts)
print(len(texts))
"""


def check_python() -> None:
    if sys.version_info[:2] != LAMBDA_PYTHON:
        sys.exit(
            f"the layer is built for Lambda's python3.12, not {sys.version.split()[0]} "
            f"({sys.executable}): run sam build with PYTHON=/path/to/python3.12 "
            "(pyenv: PYTHON=$(pyenv root)/versions/3.12.1/bin/python)"
        )


def compile_renderer(site: Path) -> Path:
    source = site / RENDERER
    target = source.with_name("_textrender" + str(sysconfig.get_config_var("EXT_SUFFIX")))
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("no C compiler: the layer would render the bulk path in pure Python")
    subprocess.run(
        [cc, "-O2", "-fPIC", "-shared", "-Wall", f"-I{sysconfig.get_paths()['include']}",
         str(source), "-o", str(target)],
        check=True,
    )  # fmt: skip
    newest = _newest_glibc(target)
    if newest > LAMBDA_GLIBC:
        sys.exit(f"{target.name} needs glibc {newest}, newer than Lambda's {LAMBDA_GLIBC}")
    return target


def _newest_glibc(library: Path) -> tuple[int, ...]:
    """The newest GLIBC_x.y symbol version the library asks for (objdump, else its strings)."""
    data = library.read_bytes().decode("latin-1")
    versions = [tuple(int(n) for n in v.split(".")) for v in re.findall(r"GLIBC_(\d+\.\d+)", data)]
    return max(versions, default=(0,))


def finish(site: Path) -> None:
    # The library without what a local build left beside it (another Python's renderer and
    # bytecode): the layer's are made here, for 3.12.
    shutil.copytree(
        Path(__file__).parent / "tda",
        site / "tda",
        ignore=shutil.ignore_patterns("*.so", "__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )
    prepare(site)


def prepare(site: Path) -> None:
    """What runs fast from a read-only folder holding ``tda``: the renderer compiled and
    imported, the data files' JSON twins, the dataclass methods compiled, bytecode."""
    target = compile_renderer(site)
    # Imported here, by the Python that will run it, as Lambda would.
    sys.path.insert(0, str(site))
    import tda.paths.traditional._textrender as renderer  # noqa: F401

    print(f"compiled {target.relative_to(site)}")
    print(f"wrote {len(write_json_twins(site / 'tda'))} JSON twins of the data files")
    print(f"stored {write_dataclass_bytecode(site)} dataclass methods compiled")
    write_bytecode(site)


def write_bytecode(site: Path) -> None:
    # Hash-based bytecode, not checked against the sources: Lambda's /opt is read-only, and a
    # layer's files keep whatever timestamps the zip gave them.
    ok = compileall.compile_dir(
        str(site),
        quiet=1,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        sys.exit("some modules did not compile to bytecode")


def write_json_twins(package: Path) -> list[Path]:
    """A JSON twin beside each YAML data file (``tda.domain.data_file``): the layer's functions
    then never import a YAML parser. Refused unless the twin reads back exactly as the YAML."""
    from tda.domain.data_file import exact_json, parse_yaml, twin_of

    written = []
    for source in sorted(package.rglob("*.yaml")):
        data = parse_yaml(source)
        twin = twin_of(source)  # an earlier build's is replaced (the tests keep the sources
        # free of any file a twin would replace)
        try:
            text = exact_json(data)
        except ValueError as exc:  # a date, a set, NaN, or what would read back otherwise
            sys.exit(f"{source}: no JSON twin can hold it ({exc})")
        twin.write_text(text, encoding="utf-8")
        written.append(twin)
    return written


def write_dataclass_bytecode(site: Path) -> int:
    """Every dataclass method the package's modules build, compiled once here rather than at
    each cold start. ``-B``: the modules' own bytecode is written after, hash-based."""
    done = subprocess.run(
        [sys.executable, "-B", "-c", RECORD_DATACLASSES, str(site)],
        env={**os.environ, "PYDANTIC_DISABLE_PLUGINS": "__all__"},  # as the Globals set it
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"recording the dataclass methods failed:\n{done.stderr[-2000:]}")
    return int(done.stdout.split()[-1])


def main(argv: list[str]) -> None:
    check_python()
    if argv[:1] == ["finish"] and len(argv) == 2:
        finish(Path(argv[1]))
    elif argv[:1] == ["bytecode"] and len(argv) == 2:
        write_bytecode(Path(argv[1]))
    elif argv[:1] == ["image"] and len(argv) == 2:
        prepare(Path(argv[1]))
    elif argv[:1] != ["check-python"]:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
