"""Each output format's cost: the service's bulk path writing CSV, SQL, JSON and NDJSON, against
the standard library writing the same records as CSV, in the same run.

    python bench/bench_formats.py            # cart, order, user at 100K records
    python bench/bench_formats.py --quick    # 20K records, fewer repeats

Every case runs in a fresh process and is repeated, rounds alternating the order; the table
shows medians of records per CPU-second (process time) and, per round, the ratio to NDJSON
(the compiled renderer's format) and to the baseline.

- ndjson, json, csv, sql: ``stream_output`` of the same plan (seed 7), bytes discarded.
- stdlib csv: the records ``stream_records`` makes, each flattened (nested objects to dotted
  columns, arrays as JSON text, as the service's CSV has them) and written by
  ``csv.DictWriter``: what a user would write around a generator that gives dicts. The time
  to make the records is not counted, only the writing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CASE = r"""
import csv, io, json, sys, time
kind, entity, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
from tda.app.service import plan_request
from tda.domain.contract import GenerateRequest, OutputFormat
from tda.paths.traditional.bulk import stream_output, stream_records
plan = plan_request(GenerateRequest(entity=entity, count=count, seed=7))
if kind == "stdlib csv":
    batches = [b.records for b in stream_records(plan)]
    def flat(record, prefix=""):
        out = {}
        for key, value in record.items():
            if isinstance(value, dict):
                out.update(flat(value, f"{prefix}{key}."))
            elif isinstance(value, list):
                out[f"{prefix}{key}"] = json.dumps(value)
            else:
                out[f"{prefix}{key}"] = value
        return out
    start = time.process_time()
    for i, records in enumerate(batches):
        rows = [flat(record) for record in records]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        if i == 0:
            writer.writeheader()
        writer.writerows(rows)
        buffer.getvalue().encode()
    cpu = time.process_time() - start
else:
    start = time.process_time()
    size = sum(len(chunk) for chunk in stream_output(plan, OutputFormat[kind.upper()]))
    cpu = time.process_time() - start
print(json.dumps({"rate": count / cpu}))
"""

KINDS = ("ndjson", "json", "csv", "sql", "stdlib csv")


def rate(kind: str, entity: str, count: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CASE, kind, entity, str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    measured: float = json.loads(out.stdout)["rate"]
    return measured


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    count = 20_000 if args.quick else 100_000
    repeats = 3 if args.quick else args.repeats
    print(f"records per CPU-second, {count:,} records, median of {repeats} rounds")
    print(f"{'entity':<8}{'format':<12}{'rec/CPU-s':>12}{'x ndjson':>10}{'x stdlib csv':>14}")
    for entity in ("cart", "order", "user"):
        rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for round_ in range(repeats):
            for kind in KINDS[:: 1 if round_ % 2 else -1]:
                rates[kind].append(rate(kind, entity, count))
        for kind in KINDS:
            to_ndjson = statistics.median(
                r / n for r, n in zip(rates[kind], rates["ndjson"], strict=True)
            )
            to_stdlib = statistics.median(
                r / s for r, s in zip(rates[kind], rates["stdlib csv"], strict=True)
            )
            print(
                f"{entity:<8}{kind:<12}{statistics.median(rates[kind]):>12,.0f}"
                f"{to_ndjson:>9.2f}x{to_stdlib:>13.2f}x"
            )


if __name__ == "__main__":
    main()
