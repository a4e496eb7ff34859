"""A small request's catalog items are formatted per draw; a large one's, or those of a
process that has already drawn many, come from the whole variant table. Either way, the same
bytes."""

from __future__ import annotations

import json
import subprocess
import sys

# In a fresh process: this suite's other tests may have built the table already.
SCRIPT = """
import json, sys
from tda.app import operations
from tda.domain.catalog import load_catalog

def records(entity, count):
    body = {"entity": entity, "count": count, "seed": 11}
    return json.loads(operations.generate_sync(body)["data"])

small = {e: records(e, 5) for e in ("cart", "order", "product")}
built_by_small = "variants" in load_catalog().__dict__
for seed in range(100):  # a server's many small requests (the llm path's bases are these)
    operations.generate_sync({"entity": "cart", "count": 5, "seed": seed})
built_by_many = "variants" in load_catalog().__dict__
records("cart", 1000)  # enough draws at once to build the table
assert "variants" in load_catalog().__dict__
again = {e: records(e, 5) for e in ("cart", "order", "product")}
print(json.dumps({"built_by_small": built_by_small, "built_by_many": built_by_many,
                  "same": small == again,
                  "items": sum(len(r.get("items", [1])) for rs in small.values() for r in rs)}))
"""


def test_a_small_request_formats_its_items_without_the_whole_table_and_gets_the_same_ones() -> None:
    # The table is 20K rows × 5 texts: ≈10 ms of a cold start's first request (and of every
    # `tda generate -n 1`), for a request that shows a handful of them.
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome["items"] > 15  # catalog draws were made
    assert outcome["built_by_small"] is False
    # ≈1 µs a text formatted one by one, ≈10 ms for the table: once the draws add up to more
    # than the table costs, it is built (an llm request's base was ≈15% of its CPU otherwise).
    assert outcome["built_by_many"] is True
    assert outcome["same"] is True
