"""Build hook: compile ``protos/`` into Python modules (``local/testdata/v1/*_pb2*.py``).

Generated code is produced here, at build time (``pip install -e .`` or a wheel build), and
never committed or edited by hand. The output path gives the modules their import name,
``testdata.v1``, the proto package's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PROTO_ROOT = "protos"
OUTPUT_ROOT = "local"


class ProtoBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
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
