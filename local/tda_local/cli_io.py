"""What ``tda generate`` and ``tda jobs`` share: a request from the command line, checked the
same way, and output files that appear only once complete."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from tda.domain.contract import GenerateRequest, OutputFormat
from tda.domain.text import is_whole_number


class CliInputError(ValueError):
    """Bad command-line input; the message names the option."""


# A schema file no larger than the HTTP API would accept as a whole request.
MAX_SCHEMA_FILE_BYTES = 1 << 20
# libyaml's parser recurses once a level of flow brackets, in C: 100,000 '[' overflowed the
# stack (SIGSEGV). A schema nests a few levels (the loader refuses more than MAX_DEPTH, 6),
# so the file's brackets are counted first; a quoted one counts too, which no real file meets.
MAX_SCHEMA_FILE_NESTING = 200
# A YAML alias is one more reference, not a copy: 700 bytes of ten-fold aliases made a million
# fields (15 s of CPU, then a million lines of errors), and an alias to itself a cycle. A file
# of MAX_SCHEMA_FILE_BYTES written out holds at most one value every two bytes.
MAX_SCHEMA_FILE_VALUES = MAX_SCHEMA_FILE_BYTES // 2
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def input_name(path: Path) -> str:
    """An input file as a message names it: ``-`` is standard input."""
    return "standard input" if str(path) == "-" else str(path)


def read_text_file(path: Path, option: str, max_bytes: int) -> str:
    """A file's text, read no further than ``max_bytes``: an endless or huge file (/dev/zero, a
    disk image named by mistake) is refused at the limit, not read until memory runs out.
    ``-`` is standard input."""
    shown = input_name(path)
    try:
        if str(path) == "-":
            raw = sys.stdin.buffer.read(max_bytes + 1)
        else:
            with path.open("rb") as file:
                raw = file.read(max_bytes + 1)
    except OSError as exc:
        raise CliInputError(f"{option}: cannot read {shown}: {exc.strerror}") from None
    if len(raw) > max_bytes:
        raise CliInputError(f"{option}: {shown} is over {max_bytes >> 20} MiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CliInputError(f"{option}: {shown} is not UTF-8 text") from None


def add_request_options(parser: argparse.ArgumentParser, default_format: str) -> None:
    """What a request is made of, for ``tda generate`` and ``tda jobs submit`` alike."""
    parser.add_argument("--count", "-n", type=int, required=True, help="how many records")
    parser.add_argument("--seed", type=int, help="same seed, same output, byte for byte")
    parser.add_argument(
        "--format",
        "-f",
        choices=[f.value.lower() for f in OutputFormat],
        default=default_format,
        help=f"output format (default {default_format})",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME=COUNT",
        help="a named group of records; the counts add up to --count",
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="NAME.FIELD=VALUE",
        help="field value for scenario NAME ('default' when no --scenario is given)",
    )
    parser.add_argument(
        "--schema",
        type=Path,
        help="JSON/YAML file with 'fields' (the proto's Field list) and optional 'constraints' "
        "('-': standard input)",
    )
    parser.add_argument("--locale", default="en_US", help="a Faker locale (default en_US)")
    parser.add_argument(
        "--context",
        default="",
        help="what the data is for, in words: sends the request to the LLM path when a model "
        "is configured (ANTHROPIC_API_KEY or LLM_BASE_URL)",
    )
    parser.add_argument(
        "--hint",
        action="append",
        default=[],
        help="routing hint: realistic, coherent, fast, bulk, edge_case... (repeatable)",
    )
    parser.add_argument(
        "--use-cache",
        action="store_true",
        help="replay cached model answers: the same request and seed give the same bytes",
    )
    parser.add_argument(
        "--learn-from-history",
        action="store_true",
        help="adapt stored patterns (the rag path; tda rag seed loads the corpus), and store a "
        "coherent result back",
    )
    parser.add_argument(
        "--defect-triggering",
        action="store_true",
        help="edge cases from the schema and stored defect patterns, each labelled with what "
        "it breaks",
    )
    parser.add_argument(
        "--production-like",
        action="store_true",
        help="draw fields from a stored production sample's distributions",
    )


def request_from_args(args: argparse.Namespace) -> GenerateRequest:
    """The request the arguments ask for, checked as every surface checks one (a schema
    file's errors name their field: ``schema.fields[0].type: ...``)."""
    _require_utf8(args)
    scenarios = _scenarios(args.scenario, args.override)
    if len(scenarios) == 1 and scenarios[0]["name"] == "default" and scenarios[0]["count"] == 0:
        scenarios[0]["count"] = args.count  # overrides given with no --scenario: all records
    payload: dict[str, Any] = {
        "entity": args.entity,
        "count": args.count,
        "seed": args.seed,
        "output_format": args.format.upper(),
        "scenarios": scenarios,
        "locale": args.locale,
        "context": args.context,
        "hints": args.hint,
        "use_cache": args.use_cache,
        "learn_from_history": args.learn_from_history,
        "defect_triggering": args.defect_triggering,
        "production_like": args.production_like,
    }
    if args.schema is not None:
        payload |= _schema_file(args.schema)
    return GenerateRequest.parse(payload)


def _require_utf8(args: argparse.Namespace) -> None:
    """Arguments that are not UTF-8 reach Python as lone surrogates: refuse them by name."""
    for option in ("entity", "scenario", "override", "locale", "context", "hint"):
        values = getattr(args, option)
        for value in values if isinstance(values, list) else [values]:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                name = option if option == "entity" else f"--{option}"
                shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                raise CliInputError(f"{name}: {shown!r} is not valid UTF-8") from None


def _scenarios(pairs: list[str], overrides: list[str]) -> list[dict[str, Any]]:
    scenarios: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        name, sep, count = pair.partition("=")
        if not sep or not name or not is_whole_number(count.strip().removeprefix("-")):
            raise CliInputError(f"--scenario: expected NAME=COUNT, got {pair!r}")
        if name in scenarios:
            raise CliInputError(f"--scenario: {name!r} is given twice")
        scenarios[name] = {"name": name, "count": int(count), "overrides": {}}
    for item in overrides:
        target, sep, value = item.partition("=")
        name, dot, field = target.partition(".")
        if not sep or not dot or not field:
            raise CliInputError(f"--override: expected NAME.FIELD=VALUE, got {item!r}")
        if not pairs and name == "default":
            scenarios.setdefault("default", {"name": "default", "count": 0, "overrides": {}})
        # The longest scenario named before a dot: a scenario's name may hold dots of its own.
        named = [n for n in scenarios if target.startswith(f"{n}.") and len(target) > len(n) + 1]
        if named:
            name = max(named, key=len)
            field = target[len(name) + 1 :]
        if name not in scenarios:
            raise CliInputError(
                f"--override: unknown scenario '{name}' (declare it with --scenario {name}=COUNT)"
            )
        scenarios[name]["overrides"][field] = value
    return list(scenarios.values())


def _schema_file(path: Path) -> dict[str, Any]:
    """The request's ``schema`` (and ``constraints``, if the file has them)."""
    import yaml  # ≈35 ms, for --schema only

    text = read_text_file(path, "--schema", MAX_SCHEMA_FILE_BYTES)
    if _deepest_brackets(text) > MAX_SCHEMA_FILE_NESTING:
        raise CliInputError(f"--schema: {path} nests deeper than {MAX_SCHEMA_FILE_NESTING} levels")
    try:
        data: Any = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise CliInputError(f"--schema: {path} is not valid JSON or YAML: {exc}") from None
    if _more_values_than(data, MAX_SCHEMA_FILE_VALUES):
        raise CliInputError(
            f"--schema: {path} holds more than {MAX_SCHEMA_FILE_VALUES:,} values once its YAML "
            "aliases are expanded (or an alias holds itself): write them out"
        )
    if isinstance(data, list):
        data = {"fields": data}
    if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
        raise CliInputError(f"--schema: {path} needs a 'fields' list (the proto's Field messages)")
    parts: dict[str, Any] = {"schema": {"fields": data["fields"]}}
    if data.get("constraints"):
        parts["constraints"] = {"field_constraints": data["constraints"]}
    return parts


def _more_values_than(data: Any, limit: int) -> bool:
    """Whether ``data`` holds more than ``limit`` values, each alias counted as often as it is
    used; a cycle counts forever. Stops at the limit: what it costs is bounded by it."""
    seen, waiting = 0, [data]
    while waiting:
        item = waiting.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(item, dict):
            waiting.extend(item.values())
            seen += len(item)  # the keys
        elif isinstance(item, list):
            waiting.extend(item)
    return False


def _deepest_brackets(text: str) -> int:
    depth = deepest = 0
    for bracket in _NOT_A_BRACKET.sub("", text):
        depth = depth + 1 if bracket in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
    return deepest


# Temporary names one process may find taken (left by a killed run whose pid was this one's).
_TEMPORARY_NAMES_TRIED = 100
_LONGEST_NAME_BYTES = 255  # NAME_MAX of Linux's file systems


def output_path(value: str) -> Path | None:
    """An ``--output`` as given; ``-`` is standard output (None), as if none were given."""
    return None if value == "-" else Path(value)


@contextmanager
def output_stream(path: Path | None) -> Iterator[IO[bytes]]:
    """Standard output for None, else ``path`` written in place."""
    if path is None:
        with stopped_by_sigterm():
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
        return
    with written_in_place(path) as handle:
        yield handle


def check_output(path: Path, option: str) -> None:
    """Refuse an output path whose folder is missing or not writable, before any work."""
    name_bytes = len(os.fsencode(path.name))
    if name_bytes > _LONGEST_NAME_BYTES:
        raise CliInputError(
            f"{option}: the name is {name_bytes} bytes, longer than a folder takes "
            f"({_LONGEST_NAME_BYTES})"
        )
    try:
        if path.is_dir():
            raise CliInputError(f"{option}: {path} is a folder; name a file")
        if _written_through(path):  # /dev/null, a pipe, a descriptor: itself, not its folder
            if not path.exists():
                raise CliInputError(f"{option}: no file can be made in /proc, as {path} would be")
            if not os.access(path, os.W_OK):
                raise CliInputError(f"{option}: {path} is not writable")
            return
        real = _in_place(path)
        folder = real.parent if str(real.parent) else Path(".")
        shown = folder if real == path else f"{folder} (where {path} leads)"
        if not folder.is_dir():
            raise CliInputError(f"{option}: folder {shown} does not exist")
    except OSError as exc:  # a path longer than PATH_MAX, a loop of links
        raise CliInputError(f"{option}: cannot write there: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise CliInputError(f"{option}: folder {shown} is not writable")


@contextmanager
def written_in_place(path: Path) -> Iterator[IO[bytes]]:
    """A file that appears under ``path`` only once complete: written beside it under a
    temporary name and renamed at the end. A failure, Ctrl-C or SIGTERM leaves no partial file
    under the final name (and removes the temporary one). Through a link, it is the file the
    link names that is replaced, and the link stays. A path that is there and is no regular
    file (``/dev/null``, a named pipe), or that leads into /proc (``/dev/stdout``,
    ``/dev/fd/1``: a descriptor of this process), is written through instead: renamed over,
    it would be replaced by a file."""
    with _failures_named(path):
        if _into_proc(path):
            # Appended to, never truncated: the shell opened it (`>>` keeps what was there;
            # `>` emptied it already), and opening it anew with O_TRUNC would empty it again.
            with stopped_by_sigterm(), path.open("ab") as handle:
                yield handle
            return
        if _is_special(path):
            with stopped_by_sigterm(), path.open("wb") as handle:
                yield handle
            return
        real = _in_place(path)
        fd, temporary = _created_beside(real)
        try:
            with stopped_by_sigterm(), os.fdopen(fd, "wb") as handle:
                yield handle
            os.replace(temporary, real)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


def _written_through(path: Path) -> bool:
    return _into_proc(path) or _is_special(path)


def _in_place(path: Path) -> Path:
    """The file that writing ``path`` in place replaces: ``path`` with its links followed."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


# Links followed before a path is taken for a loop (Linux's own limit).
_MAX_LINKS_FOLLOWED = 40


def _into_proc(path: Path) -> bool:
    """Whether ``path``, its links followed a step at a time, leads into /proc: there a link
    names an open descriptor's file (``/proc/self/fd/1`` reads as ``/tmp/out.json``), and
    ``os.path.realpath`` would give a path that only looks like the file written to."""
    at = os.path.abspath(path)
    for _ in range(_MAX_LINKS_FOLLOWED):
        folder = os.path.realpath(os.path.dirname(at))
        if folder == "/proc" or folder.startswith("/proc/"):
            return True
        at = os.path.join(folder, os.path.basename(at))
        if not os.path.islink(at):
            return False
        at = os.path.normpath(os.path.join(folder, os.readlink(at)))
    return False


@contextmanager
def _failures_named(path: Path) -> Iterator[None]:
    """A system error while making or writing ``path`` names ``path``: a write's own error
    (a disk full) names no file, and a failed create names the temporary beside it, which the
    user never asked for. A network's errors (``tda jobs fetch`` reads while it writes) are
    not the file's."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None or isinstance(exc, ConnectionError | TimeoutError):
            raise
        raise type(exc)(exc.errno, exc.strerror, str(path)) from exc


def _is_special(path: Path) -> bool:
    try:
        return not stat.S_ISREG(path.stat().st_mode)
    except FileNotFoundError:
        return False


def _created_beside(path: Path) -> tuple[int, Path]:
    """A new, empty file beside ``path``, named for this process, with the permissions open()
    gives (0o666 less the umask). Not ``tempfile.mkstemp``: importing tempfile (with shutil
    and the archive modules) was ≈2 ms of a one-record run, and its random name buys nothing
    when a process writes one output at a time. ``O_EXCL``: never a file someone else made."""
    for attempt in range(_TEMPORARY_NAMES_TRIED):
        # Unique by its start; cut to the longest name a folder takes, which the output's own
        # name may already be.
        name = os.fsencode(f".{os.getpid()}.{attempt}.{path.name}")[:_LONGEST_NAME_BYTES]
        temporary = path.with_name(os.fsdecode(name))
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: {_TEMPORARY_NAMES_TRIED} temporary names all taken")


@contextmanager
def stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM as Ctrl-C while writing, so clean-up runs (its default ends the process at once)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread (a test may call main() elsewhere)
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
