"""``tda``: generate test data from the command line.

    tda generate cart --count 1000 --seed 7 --format csv --output carts.csv
    tda generate order --count 10 --scenario happy=8 --scenario refund=2 --override refund.status=refunded
    tda schemas --domain ecommerce
    tda serve --grpc-port 9001 --http-port 8081
    tda jobs submit cart --count 1000000 --wait && tda jobs fetch JOB_ID -o carts.ndjson

Any count up to MAX_RECORDS streams to the output batch by batch, in bounded memory. Bad input
exits with status 2 and one line naming the field.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import yaml
from pydantic import ValidationError

from tda.errors import InvalidRequestError
from tda.models import Constraints, GenerateRequest, OutputFormat, Scenario, SchemaDef

EXIT_BAD_INPUT = 2
PROGRESS_MIN_RECORDS = 20_000


class CliInputError(ValueError):
    """Bad command-line input; the message names the option."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tda", description="Test Data Agent: fast, valid, coherent test data."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="generate records of an entity")
    gen.add_argument(
        "entity",
        help="entity name (cart, order, payment, user, review, product) or a name for --schema",
    )
    gen.add_argument("--count", "-n", type=int, required=True)
    gen.add_argument("--seed", type=int, help="same seed, same output, byte for byte")
    gen.add_argument(
        "--format", "-f", choices=[f.value.lower() for f in OutputFormat], default="json"
    )
    gen.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    gen.add_argument("--scenario", action="append", default=[], metavar="NAME=COUNT")
    gen.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="NAME.FIELD=VALUE",
        help="field value for scenario NAME ('default' when no --scenario is given)",
    )
    gen.add_argument(
        "--schema",
        type=Path,
        help="JSON/YAML file with 'fields' (the proto's Field list) and optional 'constraints'",
    )
    gen.add_argument("--locale", default="en_US")

    schemas = commands.add_parser("schemas", help="list the registered entities")
    schemas.add_argument("--domain")

    from tda_local import jobs_cli

    jobs_cli.add_parser(commands)

    serve = commands.add_parser(
        "serve", help="run the gRPC shim (testdata.v1) and the HTTP API in one process"
    )
    serve.add_argument("--grpc-port", type=int, default=9001)
    serve.add_argument("--http-port", type=int, default=8081)
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)"
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="processes serving the two ports: N, or 'auto' for one per core (default 1)",
    )
    # A worker's own: the primary's private ports, set by the primary when it starts workers.
    serve.add_argument("--primary", default="", help=argparse.SUPPRESS)
    return parser


def _workers(text: str) -> int:
    if text == "auto":
        return os.cpu_count() or 1
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a whole number ≥ 1 (got {text!r})")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "schemas":
            return _schemas(args.domain)
        if args.command == "jobs":
            return _jobs(args)
        if args.command == "serve":
            from tda_local.serve import run

            run(args.grpc_port, args.http_port, args.host, args.workers, args.primary)
            return 0
        return _generate(args)
    except (InvalidRequestError, CliInputError) as exc:
        print(f"tda: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValidationError as exc:
        print(f"tda: error: {InvalidRequestError.from_validation(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0


def _jobs(args: argparse.Namespace) -> int:
    import urllib.error

    from tda_local import jobs_cli

    try:
        return jobs_cli.run(args)
    except jobs_cli.ApiError as exc:
        print(f"tda: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT if exc.status == 422 else 1
    except urllib.error.URLError as exc:
        print(
            f"tda: error: cannot reach {args.api} ({exc.reason}); is `tda serve` running?",
            file=sys.stderr,
        )
        return 1


def _schemas(domain: str | None) -> int:
    from tda.schema.registry import list_schemas

    for info in list_schemas(domain):
        print(f"{info.name:<10} {info.domain:<10} {info.description}")
        print(f"{'':<10} fields: {', '.join(info.fields)}")
    return 0


def request_from_args(args: argparse.Namespace) -> GenerateRequest:
    scenarios = _scenarios(args.scenario, args.override)
    schema = constraints = None
    if args.schema is not None:
        schema, constraints = _schema_file(args.schema)
    return GenerateRequest(
        entity=args.entity,
        count=args.count,
        seed=args.seed,
        output_format=OutputFormat(args.format.upper()),
        scenarios=scenarios,
        locale=args.locale,
        schema=schema,
        constraints=constraints,
    )


def _scenarios(pairs: list[str], overrides: list[str]) -> list[Scenario]:
    scenarios: dict[str, Scenario] = {}
    for pair in pairs:
        name, sep, count = pair.partition("=")
        if not sep or not name or not count.strip().lstrip("-").isdigit():
            raise CliInputError(f"--scenario: expected NAME=COUNT, got {pair!r}")
        scenarios[name] = Scenario(name=name, count=int(count))
    for item in overrides:
        target, sep, value = item.partition("=")
        name, dot, field = target.partition(".")
        if not sep or not dot or not field:
            raise CliInputError(f"--override: expected NAME.FIELD=VALUE, got {item!r}")
        if not pairs and name == "default":
            scenarios.setdefault("default", Scenario(name="default", count=0))
        if name not in scenarios:
            raise CliInputError(
                f"--override: unknown scenario '{name}' (declare it with --scenario {name}=COUNT)"
            )
        scenarios[name].overrides[field] = value
    return list(scenarios.values())


def _schema_file(path: Path) -> tuple[SchemaDef, Constraints | None]:
    try:
        data: Any = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    except OSError as exc:
        raise CliInputError(f"--schema: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CliInputError(f"--schema: {path} is not valid JSON or YAML: {exc}") from None
    if isinstance(data, list):
        data = {"fields": data}
    if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
        raise CliInputError(f"--schema: {path} needs a 'fields' list (the proto's Field messages)")
    constraints = data.get("constraints")
    return SchemaDef(fields=data["fields"]), Constraints(
        field_constraints=constraints
    ) if constraints else None


def _generate(args: argparse.Namespace) -> int:
    from tda.coherence import CoherenceReport
    from tda.service import plan_request, stream_output

    request = request_from_args(args)
    if (
        len(request.scenarios) == 1
        and request.scenarios[0].name == "default"
        and request.scenarios[0].count == 0
    ):
        request.scenarios[0].count = request.count
    plan = plan_request(request)
    reports: list[CoherenceReport] = []
    out: IO[bytes] = args.output.open("wb") if args.output else sys.stdout.buffer
    show_progress = (
        sys.stderr.isatty()
        and (args.output is not None or sys.stdout.isatty())
        and plan.count >= PROGRESS_MIN_RECORDS
    )
    progress = _progress(plan.count) if show_progress else None
    try:
        written = 0
        for chunk in stream_output(plan, request.output_format, reports):
            out.write(chunk)
            if (
                progress is not None
                and reports
                and reports[-1].records
                and written < sum(r.records for r in reports)
            ):
                done = sum(r.records for r in reports)
                progress.update(done - written)
                written = done
    finally:
        if progress is not None:
            progress.close()
        if args.output:
            out.close()
        else:
            out.flush()
    if args.output:
        score = CoherenceReport.merge(reports).score if reports else 1.0
        print(
            f"wrote {plan.count} {plan.spec.name} records to {args.output} (seed {plan.seed}, coherence {score:.3f})",
            file=sys.stderr,
        )
    return 0


def _progress(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="rec", unit_scale=True, file=sys.stderr, dynamic_ncols=True)


if __name__ == "__main__":
    sys.exit(main())
