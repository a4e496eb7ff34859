"""Heavy admission on a busy host: is the last heavy request admitted still answered within
HEAVY_QUEUE_SECONDS?

    python bench/bench_heavy_queue.py                    # this tree, on a busy host
    python bench/bench_heavy_queue.py --against 542bd33  # and that commit's tree, same run
    python bench/bench_heavy_queue.py --idle --rounds 2  # an idle host too; each case twice

One ``tda serve --workers 1`` per case. Ten clients each send "1000 users from the costliest
regex" (``tests/surfaces/hostile_requests.heavy_users``: ≈1 s of CPU here, estimated ≈3 s; until
the regex drawer was compiled, "1000 users from ``(ab|cd){500}``", ≈2.6 s) over HTTP in a loop for ``--seconds``; a 429 is
retried after a second. Busy: processes spinning, two a core by default (``--hogs``): another
tenant the server cannot see, leaving it ≈2/5 of a core here where its estimates assume one. Per case: requests admitted and refused, latency of the admitted
(p50, p90, max) and the share answered within the budget. Cases run one after another,
interleaved round by round (never side by side: they would share the cores), so compare the
trees within a round; the machine is shared and noisy.

``--against REV`` runs REV's tree from a git worktree (its ``layers`` and ``local`` first on
PYTHONPATH, this checkout's dependencies), removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the heavy request lives with the tests that send it

from tests.surfaces.hostile_requests import heavy_users  # noqa: E402

BUDGET_SECONDS = 15.0  # HEAVY_QUEUE_SECONDS's default, set explicitly below
HEAVY = heavy_users(1000)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(tree: Path | None, home: Path) -> tuple[subprocess.Popen[bytes], int]:
    http_port, grpc_port = free_port(), free_port()
    env = {**os.environ, "TDA_HOME": str(home), "HEAVY_QUEUE_SECONDS": str(BUDGET_SECONDS)}
    if tree is not None:
        env["PYTHONPATH"] = f"{tree / 'layers'}:{tree / 'local'}"
    command = [sys.executable, "-m", "tda_local.cli", "serve", "--workers", "1",
               "--grpc-port", str(grpc_port), "--http-port", str(http_port)]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/health", timeout=2).status_code == 200:
                return server, http_port
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


def load(http_port: int, seconds: float, clients: int) -> tuple[list[float], int]:
    """Latencies of the admitted requests, and how many were refused."""
    url = f"http://127.0.0.1:{http_port}/v1/generate"
    end = time.monotonic() + seconds
    admitted: list[float] = []
    refused = [0]
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=300) as http:
            while time.monotonic() < end:
                started = time.monotonic()
                answer = http.post(url, json=HEAVY)
                took = time.monotonic() - started
                with lock:
                    if answer.status_code == 200:
                        admitted.append(took)
                    elif answer.status_code == 429:
                        refused[0] += 1
                    else:
                        raise SystemExit(f"{answer.status_code}: {answer.text[:300]}")
                if answer.status_code == 429:
                    time.sleep(1)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return admitted, refused[0]


def run_case(tree: Path | None, hogs: int, seconds: float, clients: int) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="tda-bench-heavy-"))
    server, port = serve(tree, home)
    spinning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
    try:
        admitted, refused = load(port, seconds, clients)
    finally:
        for hog in spinning:
            hog.kill()
        server.terminate()
        server.wait(60)
        shutil.rmtree(home, ignore_errors=True)
    ordered = sorted(admitted) or [float("nan")]
    return {
        "admitted": len(admitted),
        "refused": refused,
        "p50": statistics.median(ordered),
        "p90": ordered[int(0.9 * (len(ordered) - 1))],
        "max": ordered[-1],
        "within": sum(t <= BUDGET_SECONDS for t in admitted) / max(1, len(admitted)),
    }


def worktree(rev: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="tda-bench-tree-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
                   check=True, capture_output=True)  # fmt: skip
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", help="a commit whose tree runs the same cases")
    parser.add_argument("--idle", action="store_true", help="an idle host too")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--hogs", type=int, default=2 * (os.cpu_count() or 2))
    args = parser.parse_args()
    trees: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.against:
        trees.append((args.against, worktree(args.against)))
    hosts = [True, False] if args.idle else [True]
    print(f"{'tree':>12} {'host':>5} {'round':>5} {'admitted':>8} {'refused':>7} "
          f"{'p50 s':>6} {'p90 s':>6} {'max s':>6} {'within ' + format(BUDGET_SECONDS, 'g') + ' s':>11}")  # fmt: skip
    try:
        for round_ in range(1, args.rounds + 1):
            for busy in hosts:
                for name, tree in trees:
                    r = run_case(tree, args.hogs if busy else 0, args.seconds, args.clients)
                    print(f"{name:>12} {'busy' if busy else 'idle':>5} {round_:>5} "
                          f"{r['admitted']:>8.0f} {r['refused']:>7.0f} {r['p50']:>6.1f} "
                          f"{r['p90']:>6.1f} {r['max']:>6.1f} {r['within']:>11.0%}", flush=True)  # fmt: skip
    finally:
        for _, tree in trees:
            if tree is not None:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(tree)], capture_output=True)  # fmt: skip


if __name__ == "__main__":
    main()
