"""What `sam build` made, run as Lambda would run it: each built zip function imported by Python
3.12 in a fresh process, its folder then the layer's ``python/`` on the path, and a request
served; the layer's renderer must be the compiled one. CI runs it after `sam build`:

    python3.12 scripts/check_built.py .aws-sam/build

Prints each function's size with its layers and import time (a cold start's init, without
Lambda's own) and exits 1 on the first failure: a function and its layers over Lambda's 250 MB
unzipped; a package in one folder of its path that another would hide; a handler that cannot
import or serve; a renderer not compiled; a dataclass method compiled at run time (the layer's
store of them stale or missing); a YAML parser imported; a model SDK its layers cannot import.
The memory functions (rag, hybrid) are container images: not built here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# A request each function serves with no AWS behind it (the chunk store in a folder).
CART = {"entity": "cart", "count": 3, "seed": 7}
EVENTS: dict[str, object] = {
    "RouterFunction": {"request": CART},
    "TraditionalFunction": {"request": CART},
    "JobsFunction": {"action": "plan", "job_id": "job-built", "request": {**CART, "count": 20}},
    # An API Gateway (HTTP API, payload 2.0) event: written out, as tda_local is not built.
    "ApiFunction": {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/v1/generate",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "body": json.dumps(CART),
        "isBase64Encoded": False,
        "requestContext": {
            "http": {
                "method": "POST",
                "path": "/v1/generate",
                "sourceIp": "127.0.0.1",
                "protocol": "HTTP/1.1",
            },
            "requestId": "built",
            "stage": "$default",
            "routeKey": "$default",
            "accountId": "1",
            "apiId": "built",
            "domainName": "localhost",
            "time": "03/Dec/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
    },
    # Through the openai SDK to the scripted server: every record must come from the model.
    "LlmFunction": {
        "request": {"entity": "review", "count": 3, "seed": 7},
        "routing": {"path": "llm", "reason": "built"},
        "provider": "openai",
    },
}
REPO = Path(__file__).resolve().parent.parent
SCRIPTED_MODEL = REPO / "local" / "tda_local" / "scripted_model.py"
# Each function's layers, as the template attaches them, in their order on the path.
LAYERS = {
    "LlmFunction": ("CoreLayer", "ModelSdkLayer"),
    "JobsFunction": ("CoreLayer", "ModelSdkLayer"),
}
# Lambda's limit on a function and its layers together, unzipped.
UNZIPPED_LIMIT = 250 * 2**20
# What the model SDKs' layer must make importable, with the core layer beneath it.
MODEL_SDKS = ("anthropic", "openai", "redis", "httpx2")

CHILD = r"""
import json, sys, time
function, layers, event, sdks = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
sys.path[:0] = [function, *layers]
started = time.perf_counter()
import app
imported = (time.perf_counter() - started) * 1000
# Every dataclass method came compiled from the layer's store (tda/dataclass_bytecode.py).
import tda.dataclass_bytecode as methods
assert methods.STORE.is_file(), f"no compiled dataclass methods at {methods.STORE}"
assert not methods.missed, f"{len(methods.missed)} dataclass methods compiled at import: " + next(iter(methods.missed))[:300]
import pydantic
assert pydantic.__file__.startswith(layers[0]), f"pydantic from {pydantic.__file__}, not the core layer"
import tda.paths.traditional._textrender as renderer
assert renderer.__file__.endswith(".so"), f"the renderer is not compiled: {renderer.__file__}"
class Context:
    function_name = "built"; memory_limit_in_mb = 1024; aws_request_id = "built"
    invoked_function_arn = "arn:aws:lambda:us-east-1:1:function:built"
    def get_remaining_time_in_millis(self): return 30000
answer = app.lambda_handler(event, Context())
if "statusCode" in answer:
    assert answer["statusCode"] == 200, answer
    answer = json.loads(answer["body"])
served = f"served: {json.dumps(answer)[:80]}"
if "provider" in event:  # a model's: the SDK's own classes are built at its first call
    llm = answer["metadata"]["llm"]
    assert llm["records_from_model"] == event["request"]["count"], llm
    served = (f"served {llm['records_from_model']} records from {llm['calls']} model call(s) "
              f"({len(methods.missed)} of the SDK's dataclass methods compiled at that call)")
else:
    assert not methods.missed, f"{len(methods.missed)} dataclass methods compiled at run time: " + next(iter(methods.missed))[:300]
import importlib
for sdk in sdks:  # whole: what each needs is in one of the layers (imported at a model's call)
    importlib.import_module(sdk)
# The layer's data files are read from their JSON twins (layers/build_layer.py).
assert "yaml" not in sys.modules, "a YAML parser was imported: the data files' twins are missing"
# Plugins off (the template's Globals), and not looked for (tda/pydantic_plugins.py).
if function.endswith(("RouterFunction", "TraditionalFunction")):
    assert "importlib.metadata" not in sys.modules, "pydantic looked for its plugins"
print(f"{imported:.0f} ms to import; {served}")
"""


def size_of(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def shadowed(folders: list[Path]) -> list[str]:
    """Top-level packages or modules found in more than one of the folders on a function's path:
    the first would hide the others' (a second pydantic, of another version, did)."""
    seen: dict[str, Path] = {}
    clashes = []
    for folder in folders:
        for entry in folder.iterdir():
            if entry.name in ("__pycache__", "bin") or entry.name.endswith(".dist-info"):
                continue
            name = entry.name.removesuffix(".py")
            if name in seen:
                clashes.append(f"{name} in {seen[name]} and {folder}")
            seen[name] = folder
    return clashes


@contextmanager
def scripted_model() -> Iterator[str]:
    """The scripted OpenAI-compatible server's base URL, on a free port, while it runs."""
    server = subprocess.Popen(
        [sys.executable, str(SCRIPTED_MODEL), "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        yield server.stdout.readline().split()[-1]
    finally:
        server.terminate()
        server.wait(timeout=10)


def run_child(command: list[str], env: dict[str, str], failed: str) -> str | None:
    """What ``command`` prints; None, once ``failed`` and its error output are printed, if it
    fails."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"{failed}\n{done.stderr[-3000:]}")
        return None
    return done.stdout


def main(build_dir: Path) -> int:
    with scripted_model() as model_url:
        return check_functions(build_dir, model_url)


def lambda_environment(home: str, **variables: str) -> dict[str, str]:
    """A function's environment as the template's Globals make it, its stores in ``home``
    (no AWS behind it), and ``variables``."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "METRICS_DISABLED": "true",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",  # as the template's Globals set them
        "OPENBLAS_NUM_THREADS": "1",
        "TDA_CHUNK_STORE": f"file://{home}/jobs",
        "TDA_HOME": home,
        **variables,
    }


def check_functions(build_dir: Path, model_url: str) -> int:
    with tempfile.TemporaryDirectory() as home:
        # The llm function's provider, as its parameters set it.
        env = lambda_environment(home, LLM_BASE_URL=model_url, LLM_MODEL="scripted")
        for name, event in EVENTS.items():
            layers = [build_dir / layer / "python" for layer in LAYERS.get(name, ("CoreLayer",))]
            missing = [str(p) for p in layers if not p.is_dir()]
            if missing:
                print(f"{name}: FAILED, not built: {', '.join(missing)}")
                return 1
            unzipped = sum(size_of(folder) for folder in [build_dir / name, *layers])
            if unzipped > UNZIPPED_LIMIT:
                print(f"{name}: FAILED, {unzipped / 2**20:.0f} MB unzipped, over Lambda's 250 MB")
                return 1
            clashes = shadowed([build_dir / name, *layers])
            if clashes:
                print(f"{name}: FAILED, shadowed: " + "; ".join(clashes))
                return 1
            sdks = MODEL_SDKS if "ModelSdkLayer" in LAYERS.get(name, ()) else ()
            arguments = [str(build_dir / name), json.dumps([str(p.resolve()) for p in layers])]
            command = [sys.executable, "-c", CHILD, *arguments, json.dumps(event), json.dumps(sdks)]
            printed = run_child(command, env, f"{name}: FAILED")
            if printed is None:
                return 1
            print(f"{name} ({unzipped / 2**20:.0f} MB with its layers): {printed.strip()}")
    return 0


if __name__ == "__main__":
    if sys.version_info[:2] != (3, 12):
        sys.exit(f"run with Lambda's Python, 3.12 (not {sys.version.split()[0]})")
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build")))
