"""Cold imports of the built handlers, as Lambda's init would run them: each a fresh Python 3.12
process with the function's folder and the layer's ``python/`` on the path, the environment of
the template's Globals. Run after `sam build` (the layer built by layers/Makefile):

    PYTHON=$(pyenv root)/versions/3.12.1/bin/python sam build --exclude RagFunction --exclude HybridFunction
    $(pyenv root)/versions/3.12.1/bin/python bench/bench_cold.py [.aws-sam/build] [--runs 7]

Each row: the median import time of the handler (wall and CPU), its median ratio to the floor
(a fresh process importing numpy and pydantic_core, which every handler needs) measured in the same
round — floor and handlers take turns, so a neighbour's load drifting during the run weighs on
both sides of the ratio — and the heaviest imports under it (`-X importtime`). For the two
functions that answer the fast path, ``+1st req`` is the import and a first 10-cart request in
one fresh process: an import made lighter by deferring work to the first request shows there.
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
    "OPENBLAS_NUM_THREADS": "1",
    "TDA_CHUNK_STORE": "s3://bucket/jobs",
    "SYNC_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:stack-sync",
}
TIMED = (
    "import sys, time; sys.path[:0] = sys.argv[1:3]; t = time.perf_counter(); "
    "c = time.process_time(); {imports}; "
    "print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)"
)
# A cold start is the import and the first request: what an import defers, the first request
# pays. The two functions that answer the fast path serve one small cart, as the shim sends it.
FIRST_REQUEST = (
    "import app, json; app.lambda_handler(json.loads("
    '\'{"request": {"domain": "ecommerce", "entity": "cart", "count": 10, "seed": 3}}\'), None)'
)
SERVED = ("RouterFunction", "TraditionalFunction")


def timed(
    code: str, function: Path, layer: Path, importtime: bool = False
) -> tuple[float, float, str]:
    """Wall and CPU milliseconds of the imports, and the importtime report when asked."""
    flags = ["-X", "importtime"] if importtime else []
    done = subprocess.run(
        [sys.executable, *flags, "-c", code, str(function), str(layer)],
        env={"PATH": os.environ.get("PATH", ""), **ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu = done.stdout.strip().splitlines()[-1].split()[:2]
    return float(wall), float(cpu), done.stderr


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
    floor_code = TIMED.format(imports="import numpy, pydantic_core")
    code = TIMED.format(imports="import app")
    served_code = TIMED.format(imports=FIRST_REQUEST)
    floors: list[float] = []
    wall: dict[str, list[float]] = {name: [] for name in FUNCTIONS}
    cpu: dict[str, list[float]] = {name: [] for name in FUNCTIONS}
    ratio: dict[str, list[float]] = {name: [] for name in FUNCTIONS}
    served: dict[str, list[float]] = {name: [] for name in SERVED}
    for _ in range(args.runs):  # one round: the floor, then every handler
        floor = timed(floor_code, layer, layer)[0]
        floors.append(floor)
        for name in FUNCTIONS:
            took, used, _ = timed(code, args.build / name, layer)
            wall[name].append(took)
            cpu[name].append(used)
            ratio[name].append(took / floor)
            if name in SERVED:
                served[name].append(timed(served_code, args.build / name, layer)[0])
    median = statistics.median
    print(
        f"floor (numpy + pydantic_core, fresh 3.12): {median(floors):.0f} ms median of {args.runs}"
    )
    print(
        f"{'function':<22}{'wall':>8}{'CPU':>8}{'x floor':>9}{'+1st req':>10}"
        "  heaviest imports (ms)"
    )
    for name in FUNCTIONS:
        _, _, breakdown = timed(code, args.build / name, layer, importtime=True)
        first = f"{median(served[name]):>7.0f} ms" if name in SERVED else f"{'-':>10}"
        print(
            f"{name:<22}{median(wall[name]):>5.0f} ms{median(cpu[name]):>5.0f} ms"
            f"{median(ratio[name]):>8.2f}x{first}  {heaviest(breakdown)}"
        )


if __name__ == "__main__":
    main()
