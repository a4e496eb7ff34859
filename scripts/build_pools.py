"""Rebuild the shipped value pools (run after upgrading Faker).

python scripts/build_pools.py              # every shipped locale (data/pools/*.json), and
                                           # the list of Faker's (faker_locales.txt)
python scripts/build_pools.py de_DE fr_FR  # these (a new file ships a new locale)
python scripts/build_pools.py --check      # every Faker locale built under two string
                                           # hash seeds: names those whose build differs
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import orjson

from tda.paths.traditional.pools import (
    FAKER_LOCALES,
    POOL_DIR,
    build_pool_data,
    supported_locales,
)

_DIGESTS = (
    "import hashlib, orjson, warnings\n"
    "warnings.simplefilter('ignore')\n"
    "from tda.paths.traditional.pools import build_pool_data, supported_locales\n"
    "for locale in supported_locales():\n"
    "    print(locale, hashlib.sha256(orjson.dumps(build_pool_data(locale))).hexdigest())\n"
)


def _digests(hash_seed: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    return subprocess.Popen(
        [sys.executable, "-c", _DIGESTS], env=env, stdout=subprocess.PIPE, text=True
    )


def check() -> int:
    """A build that depends on the process's hash seed is not one a seed can reproduce
    (``pools._SET_ORDERED`` sorts those found)."""
    first, second = _digests(1), _digests(2)
    a, b = (
        dict(line.split() for line in run.communicate()[0].splitlines()) for run in (first, second)
    )
    differ = sorted(locale for locale in a if a[locale] != b.get(locale))
    print(f"{len(a)} locales built twice; differ with the hash seed: {differ or 'none'}")
    return 1 if differ or len(a) != len(supported_locales()) else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(check())
    from faker.config import AVAILABLE_LOCALES

    FAKER_LOCALES.write_text("".join(f"{name}\n" for name in sorted(AVAILABLE_LOCALES)))
    print(f"wrote {FAKER_LOCALES} ({len(AVAILABLE_LOCALES)} locales)")
    for locale in sys.argv[1:] or sorted(path.stem for path in POOL_DIR.glob("*.json")):
        target = POOL_DIR / f"{locale}.json"
        data = orjson.dumps(build_pool_data(locale))
        target.write_bytes(data)
        print(f"wrote {target} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:12]})")
