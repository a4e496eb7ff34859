"""Both container images built and run by a real container engine on a machine with no Docker
engine and no reach to Docker Hub or public.ecr.aws: podman (Debian's), over stand-ins for the
base images made from Debian bookworm (debootstrap, from the Debian mirror) and this machine's
Python 3.12. CI runs it (``.ci/run``, after ``sam build``: ≈6 min of it); by hand, as root:

    . .venv/bin/activate && python scripts/try_images.py [local|memory|functions|all]

Exit 1: a check failed; 3: this machine cannot build or run containers at all (CI warns).

- ``local``: ``local/Dockerfile`` (the shim) over a stand-in for ``python:3.12-slim`` (Python at
  /usr/local). Run read-only but for its named volume: ``/health``, a generate, a rag request
  served from the memory seeded at build, a 2,500-record job, the user (uid 10001) owning
  ``/data`` and all in it, no warning or traceback logged, a clean exit on SIGTERM.
- ``memory``: ``functions/memory.Dockerfile`` (the rag and hybrid functions) over a stand-in for
  ``public.ecr.aws/lambda/python:3.12``: Python at /var/lang, the runtime interface client
  (``awslambdaric``, from PyPI) at /var/runtime, ``/lambda-entrypoint.sh``, and a ``dnf`` that
  is Debian's apt-get. Each function the template builds from it runs read-only but for /tmp,
  as Lambda runs it: its CMD handler, by awslambdaric, asks this script's Runtime API for an
  event (the Lambda service's side, which AWS's emulator plays in ``sam local``), serves it from
  a memory the image's own Python seeded on S3 (moto's server, from the project's venv), posts
  the answer back, and logs no warning.
- ``functions``: the zip functions as ``sam build`` made them (``.aws-sam/build``: build first,
  README "Deploy"), run the same way over the same stand-in, as ``sam local invoke`` would:
  the function at /var/task, its layers extracted to /opt in the template's order; each serves
  check_built's request (llm through the openai SDK to the scripted server).

What the stand-ins cannot show: the real base images' own OS (Amazon Linux 2023 for Lambda, its
glibc 2.34: build_layer.py checks the renderer against it), their Python builds, and Lambda's
own service (its limits, its sandbox).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.request import urlopen

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from check_built import EVENTS as BUILT_EVENTS  # noqa: E402
from check_built import LAYERS as BUILT_LAYERS  # noqa: E402
from check_built import scripted_model  # noqa: E402
from check_memory_image import (  # noqa: E402  (scripts beside this one)
    EVENTS,
    REQUEST,
    SEED,
    SERVED_BY,
    image_functions,
)

SLIM = "docker.io/library/python:3.12-slim"
LAMBDA = "public.ecr.aws/lambda/python:3.12"
AWSLAMBDARIC = "awslambdaric==4.2.2"
# What both bases have beside Python: the libraries its modules load, CA certificates.
RUNTIME_LIBRARIES = (
    "libssl3 libffi8 libsqlite3-0 liblzma5 libbz2-1.0 libreadline8 libncursesw6 zlib1g "
    "libuuid1 libgdbm6 ca-certificates"
)
ENTRYPOINT = """#!/bin/sh
# The stand-in's: the handler named by CMD, run by awslambdaric against AWS_LAMBDA_RUNTIME_API
# (the real image falls back to its Runtime Interface Emulator when that is unset).
[ -n "$AWS_LAMBDA_RUNTIME_API" ] || { echo "AWS_LAMBDA_RUNTIME_API is not set" >&2; exit 142; }
export _HANDLER="$1"
cd "$LAMBDA_TASK_ROOT"
# Lambda's order: the function, then its layers (extracted to /opt), then the runtime.
layers=/opt/python/lib/python3.12/site-packages:/opt/python
export PYTHONPATH="$LAMBDA_TASK_ROOT:$layers:$LAMBDA_RUNTIME_DIR"
exec /var/lang/bin/python3 -m awslambdaric "$1"
"""
DNF = """#!/bin/sh
# The stand-in's dnf: Debian's apt-get, for what memory.Dockerfile asks of it.
verb="$1"; shift
packages=$(for word in "$@"; do
  case "$word" in -*) ;; gcc) echo gcc libc6-dev ;; *) echo "$word" ;; esac
done)
export DEBIAN_FRONTEND=noninteractive
case "$verb" in
  install) apt-get update -q >/dev/null \
    && apt-get install -y -q --no-install-recommends $packages >/dev/null ;;
  remove) apt-get purge -y -q $packages >/dev/null && apt-get autoremove -y -q >/dev/null ;;
  clean) rm -rf /var/lib/apt/lists/* ;;
  *) echo "dnf $verb: not in the stand-in" >&2; exit 1 ;;
esac
"""


# A stand-in base is made again when this script, which makes it, has changed (its label says).
STAND_IN = "tda_stand_in"
RECIPE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def stand_in_recipe(image: str) -> str:
    found = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Labels." + STAND_IN + "}}", image],
        capture_output=True, text=True, env=ENGINE_ENV, check=False,
    )  # fmt: skip
    return found.stdout.strip() if found.returncode == 0 else ""


def podman(*args: str, capture: bool = False, check: bool = True) -> str:
    done = subprocess.run(
        ["podman", *args], capture_output=capture, text=True, check=False, env=ENGINE_ENV
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:3])} failed: {(done.stderr or '')[-2000:]}")
    return done.stdout.strip() if capture else ""


def engine_environment(work: Path) -> dict[str, str]:
    """podman's environment: this machine's kernel refuses a container's init raising
    RLIMIT_NOFILE/NPROC to podman's defaults (crun and runc alike): keep the host's."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    conf = work / "containers.conf"
    conf.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={soft}:{hard}", "nproc=4096:4096"]\n'
        '[engine]\nruntime = "runc"\n'
    )
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


class NoEngine(RuntimeError):
    """This machine cannot build or run the images at all (exit 3): no podman to install, no
    Debian mirror, no Python 3.12 to copy, a kernel refusing containers. Not the images' fault."""


def python312() -> Path:
    """This machine's Python 3.12 (pyenv's): its folder."""
    found = sorted(Path(subprocess.getoutput("pyenv root")).glob("versions/3.12*"))
    if not found:
        raise NoEngine("no Python 3.12 under pyenv to stand in for the bases' own")
    return found[0]


def stand_in(make: Any, work: Path, base: str) -> None:
    """The stand-in for ``base`` made, and a container run from it: any failure is the
    machine's (``NoEngine``)."""
    try:
        make(work)
        podman("run", "--rm", "--entrypoint", "/bin/true", base, capture=True)
    except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
        raise NoEngine(f"cannot make or run a stand-in for {base}: {exc}") from exc


def debian_with_python(work: Path, prefix: str) -> Path:
    """A Debian bookworm root with this machine's Python 3.12 at ``prefix``, pip beside it."""
    root = work / prefix.strip("/").replace("/", "-")
    subprocess.run(
        ["debootstrap", "--variant=minbase", "bookworm", str(root), "http://deb.debian.org/debian"],
        check=True,
        capture_output=True,
    )
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    apt = f"apt-get update -q && apt-get install -y -q --no-install-recommends {RUNTIME_LIBRARIES}"
    subprocess.run(
        ["chroot", str(root), "sh", "-c", f"{apt} && rm -rf /var/lib/apt/lists/*"],
        check=True,
        capture_output=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    (root / "etc/resolv.conf").unlink()
    python = root / prefix.lstrip("/")
    shutil.copytree(python312(), python, symlinks=True, dirs_exist_ok=True)
    for pth in (python / "lib/python3.12/site-packages").glob("*.pth"):
        pth.unlink()  # this machine's own start-up hooks
    (root / "etc/ld.so.conf.d/python312.conf").write_text(f"{prefix}/lib\n")
    subprocess.run(["chroot", str(root), "ldconfig"], check=True)
    pip = python / "bin/pip"  # pyenv's names pyenv's path in its first line
    pip.unlink()
    pip.write_text(f'#!/bin/sh\nexec {prefix}/bin/python3 -m pip "$@"\n')
    pip.chmod(0o755)
    # The host's trust store: a TLS-intercepting proxy's CA (this machine's egress) included.
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")
    return root


def imported(root: Path, name: str, *changes: str) -> None:
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    flags = [
        part for change in (*changes, f"LABEL {STAND_IN}={RECIPE}") for part in ("--change", change)
    ]
    subprocess.run(
        ["podman", "import", *flags, "-", name],
        stdin=tar.stdout,
        check=True,
        capture_output=True,
        env=ENGINE_ENV,
    )
    tar.wait()


def slim_base(work: Path) -> None:
    root = debian_with_python(work, "/usr/local/py312")
    for name in ("python3", "python"):
        (root / "usr/local/bin" / name).symlink_to("/usr/local/py312/bin/python3.12")
    (root / "usr/local/bin/pip").symlink_to("/usr/local/py312/bin/pip")
    imported(
        root,
        SLIM,
        "ENV PATH=/usr/local/py312/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        'CMD ["python3"]',
    )


def lambda_base(work: Path) -> None:
    root = debian_with_python(work, "/var/lang")
    subprocess.run(
        [
            str(python312() / "bin/python3"),
            "-m",
            "pip",
            "install",
            "-q",
            "--target",
            str(root / "var/runtime"),
            AWSLAMBDARIC,
        ],
        check=True,
    )
    (root / "var/task").mkdir(parents=True)
    for path, text in (("lambda-entrypoint.sh", ENTRYPOINT), ("usr/bin/dnf", DNF)):
        (root / path).write_text(text)
        (root / path).chmod(0o755)
    imported(
        root,
        LAMBDA,
        "ENV LAMBDA_TASK_ROOT=/var/task",
        "ENV LAMBDA_RUNTIME_DIR=/var/runtime",
        "ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin",
        "ENV LANG=en_US.UTF-8",
        "WORKDIR /var/task",
        'ENTRYPOINT ["/lambda-entrypoint.sh"]',
    )


def built(mode: str, dockerfile: str, image: str) -> None:
    """``dockerfile`` built from the repository root as ``image`` (network: the host's)."""
    print(f"{mode}: podman build -f {dockerfile}")
    podman("build", "-q", "--network", "host", "-f", dockerfile, "-t", image, str(REPO),
           capture=True)  # fmt: skip


class Checks:
    def __init__(self) -> None:
        self.failed = False

    def check(self, what: str, expected: Any, got: Any) -> None:
        ok = expected == got
        self.failed |= not ok
        print(
            f"  {'ok  ' if ok else 'FAIL'} {what}"
            + ("" if ok else f": expected {expected!r}, got {got!r}")
        )


def post(port: int, body: dict[str, Any]) -> dict[str, Any]:
    from urllib.request import Request

    request = Request(
        f"http://127.0.0.1:{port}/v1/generate",
        json.dumps(body).encode(),
        {"content-type": "application/json"},
    )
    with urlopen(request, timeout=60) as answer:
        return dict(json.load(answer))


def try_local(work: Path, checks: Checks) -> None:
    image, name, volume, port = (
        "localhost/test-data-agent:try",
        f"tda-try-{os.getpid()}",
        f"tda-try-{os.getpid()}",
        18081,
    )
    built("local", "local/Dockerfile", image)
    # Read-only but for the volume: nothing the service does may write anywhere else.
    podman(
        "run",
        "-d",
        "--read-only",
        "--name",
        name,
        "-p",
        f"{port}:8081",
        "-v",
        f"{volume}:/data",
        image,
        capture=True,
    )
    try:
        health: dict[str, Any] = {"status": "no answer in 60 s", "components": {}}
        for _ in range(60):
            try:
                with urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
                    health = json.load(answer)
                break
            except OSError:
                time.sleep(1)
        checks.check("health", "healthy", health["status"])
        checks.check("rag path ok", "ok", health["components"].get("rag"))
        checks.check("3 carts", 3, post(port, {"entity": "cart", "count": 3})["record_count"])
        served = post(port, {"entity": "cart", "count": 3, "learn_from_history": True})
        checks.check(
            "the rag path serves from the seeded memory",
            "rag",
            served["metadata"]["generation_path"],
        )
        job = podman(
            "exec",
            name,
            "sh",
            "-c",
            "TDA_API=http://127.0.0.1:8081 tda jobs submit order -n 2500 --wait 2>&1 | tail -1",
            capture=True,
        )
        checks.check("a 2,500-record job", "SUCCEEDED", job.split(":")[0])
        checks.check("runs as uid", "10001", podman("exec", name, "id", "-u", capture=True))
        checks.check(
            "owns TDA_HOME",
            "tda tda",
            podman("exec", name, "stat", "-c", "%U %G", "/data", capture=True),
        )
        checks.check(
            "owns the memory",
            "",
            podman("exec", name, "find", "/data", "!", "-user", "tda", capture=True),
        )
        checks.check("logs no warning", [], noise_logged(name))
        podman("stop", "-t", "40", name, capture=True)
        checks.check(
            "stops cleanly (SIGTERM)",
            "0",
            podman("inspect", name, "--format", "{{.State.ExitCode}}", capture=True),
        )
    finally:
        podman("rm", "-f", name, capture=True, check=False)
        podman("volume", "rm", "-f", volume, capture=True, check=False)


def noise_logged(container: str) -> list[str]:
    """The tracebacks and warnings a container has logged: before, ONNX Runtime's, that it could
    not write its telemetry device id (a read-only $HOME)."""
    log = subprocess.run(["podman", "logs", container], capture_output=True, text=True,
                         env=ENGINE_ENV, check=False)  # fmt: skip
    lines = (log.stdout + log.stderr).splitlines()  # the container's stderr is podman's
    return [line for line in lines if "Traceback" in line or "W:" in line or "WARN" in line]


class RuntimeAPI:
    """The Lambda service's side of the Runtime API, for one invocation at a time: what the
    runtime interface client asks for its next event and posts its answer or error to."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, tuple[str, Any]] = {}
        self.init_error: Any = None
        self.asked_at: float | None = None
        self.lock = threading.Condition()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.send_error(404)
                with api.lock:
                    api.asked_at = api.asked_at or time.monotonic()
                    api.lock.wait_for(lambda: api.events, timeout=300)
                    if not api.events:
                        return self.send_error(500)
                    request_id, event = api.events.pop(0)
                body = json.dumps(event).encode()
                self.send_response(200)
                for header, value in (
                    ("Lambda-Runtime-Aws-Request-Id", request_id),
                    ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 120_000)),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:1:function:try",
                    ),
                    (
                        "Lambda-Runtime-Trace-Id",
                        "Root=1-00000000-000000000000000000000000;Sampled=0",
                    ),
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                ):
                    self.send_header(header, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.split("/")
                with api.lock:
                    if self.path.endswith("/runtime/init/error"):
                        api.init_error = body.decode()
                    elif parts[-1] in ("response", "error"):
                        api.answers[parts[-2]] = (parts[-1], json.loads(body or b"null"))
                    api.lock.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event: dict[str, Any], timeout: float = 300) -> tuple[str, Any]:
        request_id = str(uuid.uuid4())
        with self.lock:
            self.events.append((request_id, event))
            self.lock.notify_all()
            self.lock.wait_for(lambda: request_id in self.answers or self.init_error, timeout)
            if self.init_error:
                return "init error", self.init_error
            return self.answers.get(request_id, ("no answer", None))


def try_memory(work: Path, checks: Checks) -> None:
    image = "localhost/tda-memory:try"
    built("memory", "functions/memory.Dockerfile", image)
    with s3_bucket() as s3, scripted_model() as model_url:
        lambda_env = {
            **LAMBDA_ENV,
            **s3,
            "TDA_CHUNK_STORE": f"s3://{BUCKET}/jobs",
            "VECTOR_STORE_URL": f"s3://{BUCKET}/vectors",  # as in AWS: the jobs bucket's
            "LLM_BASE_URL": model_url,
            "LLM_MODEL": "scripted",
        }
        env_flags = [part for key, value in lambda_env.items() for part in ("-e", f"{key}={value}")]
        seeded = podman(
            "run", "--rm", "--network", "host", *env_flags, "--entrypoint", "/var/lang/bin/python3",
            image, "-c", SEED, "/var/task", capture=True,
        )  # fmt: skip
        print(f"memory: {seeded.splitlines()[-1]} entries seeded by the image's own Python")
        for function, handler in image_functions(REPO / "template.yaml"):
            answer = invoked(image, handler, EVENTS[handler], [], lambda_env, function, checks)
            if answer is not None:
                checks.check(f"{function} records", REQUEST["count"], answer["record_count"])
                served_by = answer["metadata"]["generation_path"]
                checks.check(f"{function} served by", SERVED_BY[handler], served_by)


BUCKET = "tda-jobs"
# A function's environment as the template's Globals make it, and as Lambda sets it.
LAMBDA_ENV = {
    "AWS_REGION": "us-east-1",
    "METRICS_DISABLED": "true",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "OPENBLAS_NUM_THREADS": "1",
    "TDA_HOME": "/tmp",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
}
# The zip functions as `sam build` makes them; their events and layers are check_built's.
BUILT = REPO / ".aws-sam" / "build"


@contextmanager
def s3_bucket() -> Iterator[dict[str, str]]:
    """An S3 server (moto's) with the jobs bucket, and the environment that reaches it: what
    the memory functions read and write in AWS (the project's venv has moto)."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,  # boto3's
        "AWS_ENDPOINT": endpoint,  # LanceDB's
        "AWS_ALLOW_HTTP": "true",
    }
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
    s3.create_bucket(Bucket=BUCKET)
    try:
        yield env
    finally:
        server.stop()


def invoked(
    image: str,
    handler: str,
    event: Any,
    mounts: list[str],
    env: dict[str, str],
    function: str,
    checks: Checks,
) -> Any:
    """What ``handler`` answers ``event`` with, run as Lambda runs it: by the image's runtime
    interface client, read-only but for /tmp, asking a Runtime API of its own (a removed
    container's last ask would take the next one's event). None if it raised or never answered;
    checked: that it answered, and logged no warning (what Lambda would put in its log group)."""
    name = f"tda-try-{function.lower()}-{os.getpid()}"
    api = RuntimeAPI()
    started = time.monotonic()
    flags = [part for key, value in env.items() for part in ("-e", f"{key}={value}")]
    podman(
        "run", "-d", "--rm", "--name", name, "--network", "host", "--read-only",
        "--tmpfs", "/tmp", *mounts, *flags, "-e", f"AWS_LAMBDA_RUNTIME_API=127.0.0.1:{api.port}",
        image, handler, capture=True,
    )  # fmt: skip
    try:
        kind, answer = api.invoke(event)
        init = (api.asked_at or started) - started
        print(f"{function} ({handler}): {kind} ({init * 1000:.0f} ms from podman run to its ask)")
        checks.check(f"{function} answers", "response", kind)
        checks.check(f"{function} logs no warning", [], noise_logged(name))
        if kind != "response":
            print(f"  {answer}")
            return None
        return answer
    finally:
        podman("rm", "-f", name, capture=True, check=False)
        api.server.shutdown()


def try_functions(work: Path, checks: Checks) -> None:
    """The zip functions as `sam build` made them (BUILT), as Lambda runs them: the function at
    /var/task, its layers extracted to /opt in the template's order, read-only but for /tmp."""
    if not BUILT.is_dir():
        raise RuntimeError(f"{BUILT} is not there: sam build first (README, Deploy)")
    with scripted_model() as model_url:
        for function, event in BUILT_EVENTS.items():
            opt = work / f"opt-{function}"
            for layer in BUILT_LAYERS.get(function, ("CoreLayer",)):
                shutil.copytree(BUILT / layer, opt, dirs_exist_ok=True)
            served = invoked(
                LAMBDA,
                "app.lambda_handler",
                event,
                ["-v", f"{BUILT / function}:/var/task:ro", "-v", f"{opt}:/opt:ro"],
                {**LAMBDA_ENV, "TDA_CHUNK_STORE": "file:///tmp/jobs",
                 "LLM_BASE_URL": model_url, "LLM_MODEL": "scripted"},
                function,
                checks,
            )  # fmt: skip
            if served is None:
                continue
            if "statusCode" in served:  # the HTTP API's
                checks.check(f"{function} status", 200, served["statusCode"])
                served = json.loads(served["body"])
            if function == "JobsFunction":
                checks.check(f"{function} plans", 20, served.get("record_count"))
            elif function == "LlmFunction":
                llm = served["metadata"]["llm"]
                checks.check(f"{function} records from the model", 3, llm["records_from_model"])
            else:
                checks.check(f"{function} records", 3, served["record_count"])


def main(which: str) -> int:
    global ENGINE_ENV
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        ENGINE_ENV = engine_environment(work)
        checks = Checks()
        for wanted, base, make, run in (
            ("local", SLIM, slim_base, try_local),
            ("memory", LAMBDA, lambda_base, try_memory),
            ("functions", LAMBDA, lambda_base, try_functions),
        ):
            if which not in (wanted, "all"):
                continue
            if stand_in_recipe(base) != RECIPE:
                print(f"{wanted}: a stand-in for {base}")
                try:
                    stand_in(make, work, base)
                except NoEngine as exc:
                    print(f"no container engine here: {exc}")
                    return 3
            run(work, checks)
        return 1 if checks.failed else 0


ENGINE_ENV: dict[str, str] = dict(os.environ)

if __name__ == "__main__":
    if any(shutil.which(tool) is None for tool in ("podman", "runc", "debootstrap")):
        apt = "apt-get update -q && apt-get install -y -q podman runc debootstrap"
        installed = subprocess.run(["sh", "-c", apt], capture_output=True, check=False,
                                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip
        if installed.returncode != 0:
            print("no container engine here: podman, runc and debootstrap could not be installed")
            sys.exit(3)
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "all"))
