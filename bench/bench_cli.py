"""The CLI end to end: a whole ``tda generate`` process, interpreter start to file written, against
Mimesis (the fastest library peer) doing the same job in a process of its own, in the same run.

    python bench/bench_cli.py [--runs 11]

What a shell or a CI step pays: CPU seconds of the child process (user + system, from
``wait4``), so start-up counts — importing numpy and pydantic, the service's modules, reading
the data files. Every command runs once per round, rounds alternate the order, the table shows
medians, each row's median ratio to the library floor of the same round (an interpreter that
imports numpy and pydantic_core: what a CLI built on them cannot go below) and to Mimesis doing
the same job.

Mimesis writes users of the same shape (name, email, phone, birth date, 1–2 addresses, tier,
opt-in, two timestamps) as NDJSON with ``json.dumps`` per record; it checks nothing, keeps no
address coherent, and takes no seed-for-bytes contract: it is the lower bound for a Python
generator, not an equal.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TDA = str(Path(sys.executable).with_name("tda"))
MIMESIS_USERS = r"""
import json, sys
from mimesis import Address, Datetime, Person
from mimesis.locales import Locale
from mimesis.random import Random
count, out = int(sys.argv[1]), sys.argv[2]
person, address, when = Person(Locale.EN, seed=1), Address(Locale.EN, seed=1), Datetime(seed=1)
pick = Random(1)
with open(out, "w") as f:
    for i in range(count):
        f.write(json.dumps({
            "user_id": f"USR-{pick.randint(0, 10**7):07d}", "email": person.email(),
            "first_name": person.first_name(), "last_name": person.last_name(),
            "phone": person.telephone(), "date_of_birth": when.date(1940, 2006).isoformat(),
            "addresses": [{"street": address.address(), "city": address.city(),
                           "state": address.state(abbr=True), "postal_code": address.postal_code(),
                           "country": "United States"} for _ in range(pick.randint(1, 2))],
            "loyalty_tier": pick.choice(["Bronze", "Silver", "Gold", "Platinum"]),
            "marketing_opt_in": pick.choice([True, False]),
            "created_at": when.datetime().isoformat(), "updated_at": when.datetime().isoformat(),
        }) + "\n")
"""


# The children run as a user's Python would: this machine's environment sets
# PYTHONDONTWRITEBYTECODE, which keeps both bytecode and the data files' parsed copies unwritten.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cpu_seconds(command: list[str], env: dict[str, str] | None = None) -> float:
    """User + system CPU of ``command``'s process, which must succeed."""
    child = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**CHILD_ENV, **(env or {})}
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode() if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {stderr[-500:]}")
    return usage.ru_utime + usage.ru_stime


def commands(out: Path) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "python, nothing": [py, "-c", "pass"],
        # With one BLAS thread, as tda_local sets for the CLI (numpy's pool spins at import).
        # The floor: what a CLI drawing with numpy and checking its input with pydantic's
        # validator core must import.
        "python, numpy + pydantic_core": [py, "-c", "import os; os.environ['OPENBLAS_NUM_THREADS'] = '1'; import numpy, pydantic_core"],
        # What it cost with a pydantic model as the contract (tda's until 2026-12-05).
        "python, numpy.random + model": [py, "-c", "import os; os.environ['OPENBLAS_NUM_THREADS'] = '1'; os.environ['PYDANTIC_DISABLE_PLUGINS'] = '__all__'; import numpy.random, pydantic\nclass M(pydantic.BaseModel):\n    x: int = 0"],
        "tda: 1 cart": [TDA, "generate", "cart", "-n", "1", "-o", str(out / "one.json")],
        # A locale that ships no pool file (19 do): built from Faker, or read where a run
        # before kept it (the cache: TDA_HOME/cache/pools).
        "tda: 10 users, en_NZ built": [TDA, "generate", "user", "-n", "10", "--locale", "en_NZ", "-o", str(out / "nz.json")],
        "tda: 10 users, en_NZ kept": [TDA, "generate", "user", "-n", "10", "--locale", "en_NZ", "-o", str(out / "nz.json")],
        "tda: 10K users": [TDA, "generate", "user", "-n", "10000", "-f", "ndjson", "-o", str(out / "u.ndjson")],
        "mimesis: 10K users": [py, "-c", MIMESIS_USERS, "10000", str(out / "m.ndjson")],
        "tda: 100K users": [TDA, "generate", "user", "-n", "100000", "-f", "ndjson", "-o", str(out / "u.ndjson")],
        "mimesis: 100K users": [py, "-c", MIMESIS_USERS, "100000", str(out / "m.ndjson")],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    # Bytecode for the service's modules first, as a user's first run writes it.
    import tda
    import tda_local

    for package in (tda, tda_local):
        compileall.compile_dir(os.path.dirname(package.__file__ or ""), quiet=1)
    with tempfile.TemporaryDirectory() as folder:
        jobs = commands(Path(folder))
        seconds: dict[str, list[float]] = {name: [] for name in jobs}
        kept = {"TDA_CACHE_STORE": f"file://{folder}/kept"}
        cpu_seconds(jobs["tda: 10 users, en_NZ kept"], kept)  # kept by a run before
        for round_ in range(args.runs):
            for name in list(jobs)[:: 1 if round_ % 2 else -1]:
                env = kept if name.endswith(" kept") else None
                if name.endswith(" built"):  # nothing kept: a cache of its own, new each run
                    env = {"TDA_CACHE_STORE": f"file://{folder}/built-{round_}"}
                seconds[name].append(cpu_seconds(jobs[name], env))
    median = statistics.median
    print(f"CPU seconds per process, median of {args.runs} (this machine, {os.cpu_count()} cores)")
    floor = seconds["python, numpy + pydantic_core"]
    print(f"{'command':<28}{'CPU':>9}{'x floor':>9}  {'vs mimesis, same job':>22}")
    for name, taken in seconds.items():
        peer = name.replace("tda:", "mimesis:")
        ratio = ""
        if name.startswith("tda:") and peer in seconds:
            ratio = (
                f"{median([p / t for p, t in zip(seconds[peer], taken, strict=True)]):.1f}x faster"
            )
        over = median([t / f for t, f in zip(taken, floor, strict=True)])
        print(f"{name:<28}{median(taken):>7.3f} s{over:>8.2f}x  {ratio:>22}")


if __name__ == "__main__":
    main()
