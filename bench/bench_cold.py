"""Cold imports of the built handlers, as Lambda's init would run them: each a fresh Python 3.12
process with the function's folder and the layer's ``python/`` on the path, the environment of
the template's Globals. Run after `sam build` (the layer built by layers/Makefile):

    PYTHON=$(pyenv root)/versions/3.12.1/bin/python sam build --exclude RagFunction --exclude HybridFunction
    $(pyenv root)/versions/3.12.1/bin/python bench/bench_cold.py [.aws-sam/build] [--runs 7]

Each row: the median import time of the handler, against the floor measured in the same run (a
fresh process importing numpy and pydantic, which every handler needs), and the heaviest
imports under it (`-X importtime`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

FUNCTIONS = ("RouterFunction", "TraditionalFunction", "ApiFunction", "JobsFunction", "LlmFunction")
ENV = {
    "AWS_REGION": "us-east-1",
    "SERVICE_NAME": "test-data-agent",
    "METRICS_NAMESPACE": "TestDataAgent",
    "METRICS_DISABLED": "true",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "TDA_CHUNK_STORE": "s3://bucket/jobs",
    "SYNC_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:stack-sync",
}
TIMED = (
    "import sys, time; sys.path[:0] = sys.argv[1:3]; t = time.perf_counter(); {imports}; "
    "print((time.perf_counter() - t) * 1000)"
)


def timed(code: str, function: Path, layer: Path, importtime: bool = False) -> tuple[float, str]:
    flags = ["-X", "importtime"] if importtime else []
    done = subprocess.run(
        [sys.executable, *flags, "-c", code, str(function), str(layer)],
        env={"PATH": os.environ.get("PATH", ""), **ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1]), done.stderr


def heaviest(importtime: str, n: int = 6) -> str:
    rows = []
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line.split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        if 1 <= depth <= 3:
            rows.append((int(cumulative), name.strip()))
    top = sorted(rows, reverse=True)[:n]
    return ", ".join(f"{name} {us / 1000:.0f}" for us, name in top)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("build", nargs="?", default=".aws-sam/build", type=Path)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if sys.version_info[:2] != (3, 12):
        sys.exit("run with Lambda's Python, 3.12")
    layer = args.build / "CoreLayer" / "python"
    floor_code = TIMED.format(imports="import numpy, pydantic")
    floor = statistics.median(timed(floor_code, layer, layer)[0] for _ in range(args.runs))
    print(f"floor (numpy + pydantic, fresh 3.12): {floor:.0f} ms median of {args.runs}")
    print(f"{'function':<22}{'import, median':>16}{'x floor':>9}  heaviest imports (ms)")
    for name in FUNCTIONS:
        code = TIMED.format(imports="import app")
        times = [timed(code, args.build / name, layer)[0] for _ in range(args.runs)]
        _, breakdown = timed(code, args.build / name, layer, importtime=True)
        median = statistics.median(times)
        print(f"{name:<22}{median:>13.0f} ms{median / floor:>8.1f}x  {heaviest(breakdown)}")


if __name__ == "__main__":
    main()
