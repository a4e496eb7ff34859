"""Rebuild the shipped value pools (run after upgrading Faker): python scripts/build_pools.py en_US"""

from __future__ import annotations

import sys

import orjson

from tda.paths.traditional.pools import POOL_DIR, build_pool_data

if __name__ == "__main__":
    for locale in sys.argv[1:] or ["en_US"]:
        target = POOL_DIR / f"{locale}.json"
        target.write_bytes(orjson.dumps(build_pool_data(locale)))
        print(f"wrote {target} ({target.stat().st_size} bytes)")
