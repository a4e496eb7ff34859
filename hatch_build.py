"""Build hook: generated code and the compiled renderer, made at build time.

- ``protos/`` compiled into Python modules (``local/testdata/v1/*_pb2*.py``), never committed or
  edited by hand. The output path gives the modules their import name, ``testdata.v1``.
- ``layers/tda/paths/traditional/_textrender.c`` compiled into an extension module beside it, with the
  C compiler and headers of the Python that builds (``pip install -e .`` or a wheel build).
  Without a compiler the build still succeeds, with a warning: the bulk JSON/NDJSON path then
  runs in pure Python (same bytes, about 2x slower).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PROTO_ROOT = "protos"
OUTPUT_ROOT = "local"
EXTENSION_SOURCE = "layers/tda/paths/traditional/_textrender.c"


class ProtoBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        self._compile_protos(build_data)
        self._compile_extension(build_data)

    def _compile_extension(self, build_data: dict[str, Any]) -> None:
        source = Path(self.root) / EXTENSION_SOURCE
        target = source.with_name(source.stem + sysconfig.get_config_var("EXT_SUFFIX"))
        compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
        command = [
            *compiler,
            "-O2",
            "-fPIC",
            "-shared",
            "-Wall",
            f"-I{sysconfig.get_paths()['include']}",
            str(source),
            "-o",
            str(target),
        ]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            print(f"warning: {source.name} not compiled ({detail.strip()[:500]}); "
                  "the bulk JSON path runs in pure Python", file=sys.stderr)  # fmt: skip
            return
        build_data["artifacts"].append(f"/{target.relative_to(self.root)}")
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def _compile_protos(self, build_data: dict[str, Any]) -> None:
        from grpc_tools import protoc

        root = Path(self.root)
        protos = sorted(
            str(p.relative_to(root / PROTO_ROOT)) for p in (root / PROTO_ROOT).rglob("*.proto")
        )
        out = root / OUTPUT_ROOT
        include = Path(protoc.__file__).parent / "_proto"
        status = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{root / PROTO_ROOT}",
                f"-I{include}",
                f"--python_out={out}",
                f"--pyi_out={out}",
                f"--grpc_python_out={out}",
                *protos,
            ]
        )
        if status != 0:
            raise RuntimeError(f"protoc failed ({status}) on {protos}")
        for proto in protos:
            package = out / Path(proto).parent
            while package != out:
                (package / "__init__.py").touch()
                package = package.parent
        build_data["artifacts"].append(f"/{OUTPUT_ROOT}/testdata")
