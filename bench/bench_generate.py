"""Traditional-path throughput: records per CPU-second, against naive Faker in the same run.

    python bench/bench_generate.py            # cart, order, user at 10K and 100K
    python bench/bench_generate.py --quick    # 10K only

Each case runs in a fresh process (so its peak RSS is its own) and is repeated; the table shows
medians. Rates are records per CPU-second (process time), which a noisy shared machine disturbs
less than wall time; the ratio to the naive baseline, measured in the same run, is the figure
to compare across machines.

- generate+ndjson: the service's streaming path, records rendered to NDJSON bytes (discarded),
  with the compiled renderer (``_textrender``, built by ``pip install``).
- pure python: the same, with the compiled renderer switched off (the fallback, same bytes).
- validate: the record validator alone over already generated records.
- naive faker: one ``fake.xxx()`` call per field, records built as dicts, ``json.dumps`` per line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CASE = r"""
import gc, json, resource, sys, time
kind, entity, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "naive":
    from faker import Faker
    fake = Faker("en_US"); fake.seed_instance(1)
    def make():
        if entity == "user":
            return {"user_id": fake.bothify("USR-???????").upper(), "email": fake.email(),
                    "first_name": fake.first_name(), "last_name": fake.last_name(), "phone": fake.phone_number(),
                    "date_of_birth": fake.date_of_birth().isoformat(),
                    "addresses": [{"street": fake.street_address(), "city": fake.city(), "state": fake.state_abbr(),
                                   "postal_code": fake.postcode(), "country": "United States"}
                                  for _ in range(fake.random_int(1, 2))],
                    "loyalty_tier": fake.random_element(["Bronze", "Silver", "Gold", "Platinum"]),
                    "marketing_opt_in": fake.boolean(), "created_at": fake.iso8601(), "updated_at": fake.iso8601()}
        items = [{"sku": fake.bothify("????-????-???-??").upper(), "name": fake.catch_phrase(), "category": fake.word(),
                  "quantity": fake.random_int(1, 5), "price": float(fake.pydecimal(left_digits=3, right_digits=2, positive=True))}
                 for _ in range(fake.random_int(1, 5))]
        for i in items:
            i["line_total"] = round(i["quantity"] * i["price"], 2)
        subtotal = round(sum(i["line_total"] for i in items), 2)
        tax = round(subtotal * 0.08, 2)
        record = {"id": fake.bothify("CRT-####-???????").upper(), "customer_id": fake.bothify("USR-???????").upper(),
                  "items": items, "subtotal": subtotal, "tax": tax, "total": round(subtotal + tax, 2),
                  "currency": fake.currency_code(), "created_at": fake.iso8601(), "updated_at": fake.iso8601()}
        if entity == "order":
            record.update(status=fake.random_element(["paid", "shipped"]), shipping_address=fake.address(),
                          billing_address=fake.address(), payment_method=fake.credit_card_provider())
        return record
    start = time.process_time()
    for _ in range(count):
        json.dumps(make())
    cpu = time.process_time() - start
else:
    from tda.domain.contract import GenerateRequest, OutputFormat
    from tda.app.service import plan_request
    from tda.paths.traditional.bulk import stream_output, stream_records
    from tda.domain.validation import validate_records
    plan = plan_request(GenerateRequest(entity=entity, count=count, seed=7))
    if kind == "generate-python":  # the same path with the compiled renderer switched off
        from tda.paths.traditional import native_program
        native_program.native = None
        kind = "generate"
    if kind == "generate":
        start = time.process_time()
        size = sum(len(chunk) for chunk in stream_output(plan, OutputFormat.NDJSON))
        cpu = time.process_time() - start
    else:
        batches = [b.records for b in stream_records(plan)]
        start = time.process_time()
        for records in batches:
            assert validate_records(plan.spec, records).valid
        cpu = time.process_time() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rate": count / cpu, "rss_mb": rss}))
"""


def run_case(kind: str, entity: str, count: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CASE, kind, entity, str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def median_case(kind: str, entity: str, count: int, repeats: int) -> dict[str, float]:
    runs = [run_case(kind, entity, count) for _ in range(repeats)]
    return {
        "rate": statistics.median(r["rate"] for r in runs),
        "rss_mb": max(r["rss_mb"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [10_000] if args.quick else [10_000, 100_000]
    from tda.paths.traditional import native_program

    renderer = "compiled" if native_program.native is not None else "NOT BUILT (pure Python)"
    print(f"renderer: {renderer}")
    print(
        f"{'entity':<8}{'records':>9}  {'generate+ndjson':>16}  {'pure python':>12}  {'validate':>10}  {'naive faker':>12}  {'speedup':>8}  {'peak RSS':>9}"
    )
    print(
        f"{'':<8}{'':>9}  {'rec/CPU-s':>16}  {'rec/CPU-s':>12}  {'rec/CPU-s':>10}  {'rec/CPU-s':>12}  {'':>8}  {'MB':>9}"
    )
    started = time.time()
    for entity in ("cart", "order", "user"):
        # The naive baseline is slow; its rate is flat in the count, so 5K records measure it.
        naive = median_case("naive", entity, 5_000, args.repeats)
        for count in sizes:
            ours = median_case("generate", entity, count, args.repeats)
            python = median_case("generate-python", entity, count, args.repeats)
            check = median_case("validate", entity, count, args.repeats)
            print(
                f"{entity:<8}{count:>9,}  {ours['rate']:>16,.0f}  {python['rate']:>12,.0f}  {check['rate']:>10,.0f}  {naive['rate']:>12,.0f}"
                f"  {ours['rate'] / naive['rate']:>7.1f}x  {ours['rss_mb']:>9.0f}"
            )
    print(f"(medians of {args.repeats} runs per cell; {time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
