"""``tda``: generate test data from the command line.

    tda generate cart --count 1000 --seed 7 --format csv --output carts.csv
    tda generate order --count 10 --scenario happy=8 --scenario refund=2 --override refund.status=refunded
    tda schemas --domain ecommerce
    tda serve --grpc-port 9001 --http-port 8081
    tda jobs submit cart --count 1000000 --wait && tda jobs fetch JOB_ID -o carts.ndjson
    tda rag seed && tda generate cart --count 5 --learn-from-history

Any count up to MAX_RECORDS streams to the output batch by batch, in bounded memory. Bad input
exits with status 2 and one line naming the field.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import tda_local
from tda.dataclass_bytecode import keep_missed
from tda.domain.errors import ConfigurationError, InvalidRequestError
from tda.domain.text import is_whole_number
from tda_local.cli_io import (
    CliInputError,
    add_request_options,
    check_output,
    output_path,
    request_from_args,
    stopped_by_sigterm,
    written_in_place,
)

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
PROGRESS_MIN_RECORDS = 20_000


# Commands whose parsers leave out the jobs and rag commands' dozen (≈8 ms of every run):
# arguments starting with one of these cannot need them.
LEAN_COMMANDS = frozenset({"generate", "schemas", "serve"})


class _Parser(argparse.ArgumentParser):
    """argparse's parser, asking the terminal's width without ``shutil``: argparse imports it
    (and with it the archive modules, ≈2 ms of a one-record run) to size the help it formats at
    every argument added. Its subcommands' parsers are of this class too."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return argparse.HelpFormatter(self.prog, width=_help_width())  # the only one used


def _help_width() -> int:
    """What ``HelpFormatter`` uses when given none: ``shutil.get_terminal_size`` less 2."""
    try:
        columns = int(os.environ.get("COLUMNS", 0))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


def build_parser(whole: bool = True) -> argparse.ArgumentParser:
    """The CLI's parser; not ``whole``: without the jobs and rag commands."""
    parser = _Parser(prog="tda", description="Test Data Agent: fast, valid, coherent test data.")
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="print the version")
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="generate records of an entity")
    gen.add_argument(
        "entity",
        help="entity name (cart, order, payment, user, review, product) or a name for --schema",
    )
    add_request_options(gen, default_format="json")
    gen.add_argument(
        "--output",
        "-o",
        type=output_path,
        help="file to write, in place only once complete (default, or '-': standard output)",
    )

    schemas = commands.add_parser("schemas", help="list the registered entities")
    schemas.add_argument("--domain", help="only this domain's entities (e.g. ecommerce)")

    if whole:
        from tda_local import jobs_cli, rag_cli

        jobs_cli.add_parser(commands)
        rag_cli.add_parser(commands)

    serve = commands.add_parser(
        "serve", help="run the gRPC shim (testdata.v1) and the HTTP API in one process"
    )
    serve.add_argument("--grpc-port", type=_port, default=9001, help="gRPC port (default 9001)")
    serve.add_argument("--http-port", type=_port, default=8081, help="HTTP port (default 8081)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)"
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="processes serving the two ports: N, or 'auto' for one per core (default 1)",
    )
    serve.add_argument(
        "--access-log", action="store_true", help="one line per call on stderr (both transports)"
    )
    # A worker's own: the primary's private ports, set by the primary when it starts workers.
    serve.add_argument("--primary", default="", help=argparse.SUPPRESS)
    return parser


class _VersionAction(argparse.Action):
    """The version, looked up only when asked: importlib.metadata costs ≈25 ms of every run."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"tda {_version()}")
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("test-data-agent")
    except PackageNotFoundError:
        return "unknown"


# More processes than this buy no throughput (the fast path is CPU, one core a process) and each
# holds ≈100 MB: 100000 were once started one after another until the machine gave out.
WORKERS_A_CORE = 4


def _workers(text: str) -> int:
    cores = os.cpu_count() or 1
    if text == "auto":
        return cores
    most = WORKERS_A_CORE * cores
    if not is_whole_number(text) or not 1 <= int(text) <= most:
        raise argparse.ArgumentTypeError(
            f"must be 'auto' or a whole number from 1 to {most} ({WORKERS_A_CORE} a core here; "
            f"got {text!r})"
        )
    return int(text)


def _port(text: str) -> int:
    """A TCP port; 0 takes any free one. gRPC took 70000 as 4464 (modulo 65536) and served there."""
    if not is_whole_number(text) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535 (got {text!r})")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if tda_local.configuration_error is not None:  # before the parser: its commands read settings
        return _misconfigured(tda_local.configuration_error)
    parser = build_parser(whole=not argv or argv[0] not in LEAN_COMMANDS)
    args = parser.parse_args(argv)
    try:
        if args.command == "schemas":
            return _schemas(args.domain)
        if args.command == "jobs":
            return _jobs(args)
        if args.command == "rag":
            from tda_local import rag_cli

            return rag_cli.run(args)
        if args.command == "serve":
            from tda_local.serve import run

            if args.access_log:
                os.environ["TDA_ACCESS_LOG"] = "1"  # workers inherit it
            run(args.grpc_port, args.http_port, args.host, args.workers, args.primary)
            return 0
        return _generate(args)
    except InvalidRequestError as exc:
        print(f"tda: error: {exc.summary()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ConfigurationError as exc:
        return _misconfigured(exc)
    except CliInputError as exc:
        print(f"tda: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("tda: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # a disk full, a folder gone: the system's words, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"tda: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE


def _misconfigured(error: ConfigurationError) -> int:
    problems = "".join(f"\n  {problem}" for problem in error.problems)
    print(f"tda: error: a setting in the environment cannot be used:{problems}", file=sys.stderr)
    return EXIT_BAD_INPUT


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
            f"tda: error: cannot reach {jobs_cli.api_of(args)} ({exc.reason}); "
            "is `tda serve` running?",
            file=sys.stderr,
        )
        return 1


def _schemas(domain: str | None) -> int:
    from tda.domain.schema.registry import list_schemas

    found = list_schemas(domain)
    if not found:
        domains = sorted({info.domain for info in list_schemas(None)})
        raise CliInputError(f"--domain: no entities in '{domain}' (known: {', '.join(domains)})")
    for info in found:
        print(f"{info.name:<10} {info.domain:<10} {info.description}")
        print(f"{'':<10} fields: {', '.join(info.fields)}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from tda.app.service import plan_request, route_here, with_model_catalog
    from tda.app.settings import settings
    from tda.domain.coherence import CoherenceReport
    from tda.domain.routing import GenerationPath, context_too_short
    from tda.paths import registry
    from tda.paths.traditional.bulk import stream_output

    if args.output is not None:
        check_output(args.output, "--output")
    request = request_from_args(args)
    plan = plan_request(request)
    decision = route_here(request)
    if decision.path is not GenerationPath.TRADITIONAL and plan.count <= settings.max_sync_records:
        return _generate_through_path(args, request)
    # Said when what the caller asked a model for did not reach one: no model is configured,
    # or the context is too short to send.
    if "llm not configured" in decision.reason or (
        decision.path is GenerationPath.TRADITIONAL and context_too_short(request)
    ):
        print(f"note: {decision.reason}", file=sys.stderr)
    plan, report, failure = with_model_catalog(plan, decision)
    if decision.path is GenerationPath.LLM:
        fallback = registry.fallback_reason(decision.path, failure) if failure else ""
        _say_model(report.model_dump() if report else None, fallback)
    served = decision.path.value if report is not None else "traditional"
    reports: list[CoherenceReport] = []
    show_progress = (
        sys.stderr.isatty()
        and (args.output is not None or sys.stdout.isatty())
        and plan.count >= PROGRESS_MIN_RECORDS
    )
    progress = _progress(plan.count) if show_progress else None
    chunks = stream_output(plan, request.output_format, reports)
    try:
        if args.output is None:
            _write_stdout(chunks, progress, reports)
        else:
            with written_in_place(args.output) as out:
                _write(out, chunks, progress, reports)
    finally:
        if progress is not None:
            progress.close()
    score = CoherenceReport.merge(reports).score if reports else 1.0
    where = args.output if args.output is not None else "standard output"
    print(
        f"wrote {plan.count} {plan.spec.name} records to {where} "
        f"(path {served}, seed {plan.seed}, coherence {score:.3f})",
        file=sys.stderr,
    )
    return 0


def _generate_through_path(args: argparse.Namespace, request: Any) -> int:
    """A small request routed to a model path, served in this process: the path itself, falling
    back to traditional generation if it fails (the workflow's chain, without the workflow)."""
    from tda.app.service import generate

    response = generate(request).model_dump(mode="json")
    metadata = response["metadata"]
    data = response["data"].encode("utf-8")
    if args.output is None:
        with stopped_by_sigterm():
            sys.stdout.buffer.write(data if data.endswith(b"\n") else data + b"\n")
    else:
        with written_in_place(args.output) as out:
            out.write(data)
    _say_model(metadata.get("llm"), metadata.get("fallback_reason", ""))
    _say_memory(metadata.get("rag"))
    where = args.output if args.output is not None else "standard output"
    print(
        f"wrote {response['record_count']} {args.entity} records to {where} "
        f"(path {metadata['generation_path']}, seed {metadata['seed']}, "
        f"coherence {metadata['coherence_score']:.3f})",
        file=sys.stderr,
    )
    return 0


def _say_model(llm: dict[str, Any] | None, fallback: str) -> None:
    if fallback:
        print(f"note: {fallback}", file=sys.stderr)
    if not llm:
        return
    print(
        f"llm: {llm['mode']} mode, {llm['provider']} {llm['model']}, {llm['calls']} call(s)"
        f"{' (cache hit)' if llm['cache_hit'] else ''}, "
        f"{llm['tokens_input'] + llm['tokens_output']} tokens, ~${llm['cost_usd']:.4f}, "
        f"{llm['records_filled']} record(s) filled by traditional generation",
        file=sys.stderr,
    )
    for note in llm.get("notes") or []:
        print(f"llm: {note}", file=sys.stderr)


def _say_memory(rag: dict[str, Any] | None) -> None:
    if not rag:
        return
    made = (
        f"{rag['edge_cases_from_schema']} edge case(s) from the schema, "
        f"{rag['edge_cases_from_defects']} from defect patterns"
        if rag["mode"] == "edge_cases"
        else f"{rag['records_from_memory']} record(s) from memory, "
        f"{rag['records_topped_up']} topped up"
    )
    print(f"rag: {rag['mode']} mode, {rag['retrieved']} retrieved, {made}", file=sys.stderr)
    for note in rag.get("notes") or []:
        print(f"rag: {note}", file=sys.stderr)
    if rag.get("learned"):
        print(f"rag: learned {rag['learned']}", file=sys.stderr)


def _write(out: IO[bytes], chunks: Iterator[bytes], progress: Any, reports: list[Any]) -> None:
    written = 0
    for chunk in chunks:
        out.write(chunk)
        if progress is not None and reports:
            done = sum(r.records for r in reports)
            progress.update(done - written)
            written = done


def _write_stdout(chunks: Iterator[bytes], progress: Any, reports: list[Any]) -> None:
    out = sys.stdout.buffer
    last = b"\n"
    with stopped_by_sigterm():

        def remembered() -> Iterator[bytes]:
            nonlocal last
            for chunk in chunks:
                if chunk:
                    last = chunk[-1:]
                yield chunk

        _write(out, remembered(), progress, reports)
        if last != b"\n":  # a JSON array ends without one; a terminal or a pipe wants it
            out.write(b"\n")
        out.flush()


def _progress(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="rec", unit_scale=True, file=sys.stderr, dynamic_ncols=True)


def entry() -> None:
    """The console script (and ``python -m tda_local.cli``): ``main``; after ``generate``, out
    without the interpreter's teardown. By then every byte is written and flushed, and unloading
    numpy, pydantic and the service's modules is ≈30 ms of CPU, 8 % of a one-record run. The
    other commands (serve's worker processes, the jobs client) exit the usual way."""
    code = main()  # a bad setting in the environment: named, exit 2, nothing started
    keep_missed()  # the dataclass methods this run compiled, for the next (as bytecode is)
    if sys.argv[1:2] != ["generate"]:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # the reader is gone (``| head``): nothing more can reach it
        pass
    os._exit(code)


if __name__ == "__main__":
    entry()
