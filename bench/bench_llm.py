"""The LLM path: what the service costs around each model call, how many records a call carries,
wall time under concurrency, and catalog mode at bulk counts — against the traditional path
measured in the same run.

    python bench/bench_llm.py            # scripted server at 5 ms per output token (~200 tok/s)
    python bench/bench_llm.py --quick    # fewer repeats, no 1M catalog run
    LLM_BASE_URL=http://host:8000/v1 LLM_MODEL=... python bench/bench_llm.py --real
    ANTHROPIC_API_KEY=... python bench/bench_llm.py --real

The scripted server (``tda_local.scripted_model``) runs in its own process, so this process's
CPU time is the service's alone (it answers at once for the CPU table, many requests a median;
at the given pace for the wall-time tables): prompt building, the SDK's request and parse, reading the
answer, laying it over the records, recomputing derived fields, validating. ``--real`` measures
whatever model the environment configures instead (the same tables; costs are real).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

CONTEXT = "carts for fitness enthusiasts preparing for a marathon"
MODEL = os.environ.get("LLM_MODEL", "scripted")


def start_scripted(seconds_per_token: float) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tda_local.scripted_model",
            "--port",
            "0",
            "--seconds-per-token",
            str(seconds_per_token),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    os.environ["LLM_BASE_URL"] = line.rsplit(" ", 1)[1].strip()
    return server


def install(concurrency: int) -> None:
    from tda import wiring
    from tda.app.settings import model_settings
    from tda.domain.routing import GenerationPath
    from tda.paths import registry
    from tda.paths.llm.generator import LLMGenerator
    from tda.paths.llm.options import LLMOptions

    # Each level its own model name: the adaptive limit is per (provider, model) and process.
    os.environ["LLM_MODEL"] = f"{MODEL}-c{concurrency}"
    wiring.install()
    config = model_settings()
    options = LLMOptions(
        deadline_seconds=600,
        call_timeout_seconds=300,
        token_budget=0,
        start_concurrency=concurrency,
        max_concurrency=concurrency,
    )
    registry.register(
        GenerationPath.LLM,
        lambda: LLMGenerator(
            wiring.model_clients(config), wiring._cache, registry.traditional, options
        ),
    )


def request(entity: str, count: int, seed: int, **extra: Any) -> Any:
    from tda.domain.contract import GenerateRequest

    context = CONTEXT if entity in ("cart", "order") else f"{entity}s for a running-gear shop"
    return GenerateRequest(entity=entity, count=count, seed=seed, context=context, **extra)


def overhead(entities: list[str], repeats: int) -> list[tuple[str, ...]]:
    from tda.app.service import generate
    from tda.paths import registry

    rows: list[tuple[str, ...]] = []
    for entity in entities:
        per_call, per_record, base = [], [], []
        calls = records = 0
        generate(request(entity, 40, seed=10_000))  # untimed: a process's first of an entity
        for k in range(repeats):
            started = time.process_time()
            response = generate(request(entity, 40, seed=k))
            cpu = time.process_time() - started
            llm = response.metadata.llm
            assert llm is not None and response.metadata.generation_path == "llm"
            calls, records = llm.calls, llm.records_from_model
            per_call.append(cpu / max(llm.calls, 1) * 1000)
            per_record.append(records / max(calls, 1))
            started = time.process_time()
            from tda.app.service import plan_request

            registry.traditional().generate(plan_request(request(entity, 40, seed=k)), warm=False)
            base.append((time.process_time() - started) * 1000)
        rows.append(
            (
                entity,
                f"{statistics.median(per_record):.0f}",
                f"{statistics.median(per_call):.2f}",
                f"{statistics.median(base):.2f}",
                f"{statistics.median(per_call) / statistics.median(base):.1f}×",
            )
        )
    return rows


def wall(counts: list[int], levels: list[int], repeats: int) -> list[tuple[str, ...]]:
    from tda.app.service import generate

    rows: list[tuple[str, ...]] = []
    for concurrency in levels:
        install(concurrency)
        for count in counts:
            times, calls = [], 0
            for k in range(repeats):
                started = time.perf_counter()
                response = generate(request("cart", count, seed=100 + k))
                times.append(time.perf_counter() - started)
                assert response.metadata.llm is not None
                calls = response.metadata.llm.calls
                assert response.metadata.llm.records_filled == 0
            rows.append(
                (f"{count} carts", str(concurrency), str(calls), f"{statistics.median(times):.2f}")
            )
    return rows


def catalog(counts: list[int]) -> list[tuple[str, ...]]:
    from tda.app.service import plan_request, route_here, with_model_catalog
    from tda.domain.contract import OutputFormat
    from tda.paths.traditional.bulk import stream_output

    rows: list[tuple[str, ...]] = []
    for count in counts:
        req = request("cart", count, seed=7, output_format=OutputFormat.NDJSON)
        wall_started = time.perf_counter()
        plan, report, failure = with_model_catalog(plan_request(req), route_here(req))
        assert plan.catalog is not None, failure
        written = time.perf_counter() - wall_started
        cpu_started = time.process_time()
        for _ in stream_output(plan, OutputFormat.NDJSON, []):
            pass
        catalog_cpu = time.process_time() - cpu_started
        total = time.perf_counter() - wall_started
        plain = plan_request(
            request("cart", count, seed=7, output_format=OutputFormat.NDJSON, hints=["fast"])
        )
        cpu_started = time.process_time()
        for _ in stream_output(plain, OutputFormat.NDJSON, []):
            pass
        plain_cpu = time.process_time() - cpu_started
        assert report is not None
        rows.append(
            (
                f"{count:,}",
                str(report.calls),
                f"{written:.2f}",
                f"{total:.2f}",
                f"{count / catalog_cpu:,.0f}",
                f"{count / plain_cpu:,.0f}",
                f"{(count / catalog_cpu) / (count / plain_cpu):.2f}",
            )
        )
    return rows


def table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--real", action="store_true", help="the model the environment configures")
    parser.add_argument("--seconds-per-token", type=float, default=0.005)
    args = parser.parse_args()
    os.environ["TDA_CACHE_STORE"] = f"file://{tempfile.mkdtemp(prefix='bench-llm-cache-')}"
    # CPU around a call does not depend on how long the model takes: an instant server there,
    # so the medians can be of many requests.
    server = None if args.real else start_scripted(0.0)
    try:
        install(concurrency=1)  # one call at a time: each as large as the output budget allows
        repeats = 3 if args.real else 15 if args.quick else 41
        table(
            "service CPU around a model call (40 records a request, calls as large as the "
            "output budget allows, median; baseline: the traditional path making the same records)",
            ("entity", "records/call", "CPU ms/call", "traditional ms", "ratio"),
            overhead(["cart", "order", "review", "user", "product", "payment"], repeats),
        )
        if server is not None:
            server.kill()
            server = start_scripted(args.seconds_per_token)
        table(
            "wall time, carts in records mode (median s)",
            ("request", "concurrency", "calls", "wall s"),
            wall([10, 100], [1, 4, 16], 1 if args.quick else 3),
        )
        counts = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
        table(
            "catalog mode: context carts from one model-written catalog, NDJSON "
            "(records per CPU-second; baseline: the shipped catalog in the same run)",
            (
                "carts",
                "calls",
                "catalog s",
                "total s",
                "catalog rec/CPU-s",
                "traditional rec/CPU-s",
                "ratio",
            ),
            catalog(counts),
        )
    finally:
        if server is not None:
            server.terminate()


if __name__ == "__main__":
    main()
