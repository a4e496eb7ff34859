"""``tda rag``: the memory the rag and hybrid paths retrieve from (``VECTOR_STORE_URL``; by
default LanceDB under ``TDA_HOME/vectors``).

    tda rag seed                         # the shipped corpus; idempotent (upsert by id)
    tda rag seed --rebuild               # first re-embed what is stored (another model wrote it)
    tda rag add team-patterns.ndjson     # a team's own (JSON array or NDJSON), personal data masked
    tda rag stats                        # entries per collection and entity, embedding model
    tda rag search "running shoes" --entity cart [--collection patterns] [--mode hybrid] [-k 5]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tda_local.cli_io import CliInputError, input_name, read_text_file

MODES = ("hybrid", "vector", "keyword")
MAX_K = 100
# A team's file: room for the most entries a file may hold (corpus.MAX_ENTRIES_PER_FILE) at a
# typical size; an endless or huge file is refused at this, not read until memory runs out.
MAX_FILE_BYTES = 64 << 20
PROGRESS_FROM = 5000  # entries: a shorter write is over in seconds


def add_parser(commands: Any) -> None:
    rag = commands.add_parser("rag", help="the memory: seed, add, stats, search")
    verbs = rag.add_subparsers(dest="verb", required=True)
    seed = verbs.add_parser("seed", help="load the shipped corpus (idempotent)")
    seed.add_argument(
        "--rebuild",
        action="store_true",
        help="first re-embed every stored entry with this model (a store another model wrote)",
    )
    add = verbs.add_parser("add", help="add a team's examples (JSON array or NDJSON)")
    add.add_argument("file", type=Path, help="JSON array or NDJSON ('-': standard input)")
    add.add_argument(
        "--refuse-personal-data",
        action="store_true",
        help="refuse the file if anything looks like real personal data (default: mask it)",
    )
    verbs.add_parser("stats", help="entries per collection and entity")
    search = verbs.add_parser("search", help="what a request would retrieve")
    search.add_argument("text")
    search.add_argument("--entity")
    search.add_argument(
        "--collection", default="patterns", choices=["patterns", "defects", "production"]
    )
    search.add_argument("--mode", default="hybrid", choices=MODES)
    search.add_argument("-k", type=int, default=5, help=f"how many (1-{MAX_K}, default 5)")


def run(args: argparse.Namespace) -> int:
    from tda import wiring
    from tda.domain.errors import TdaError

    wiring.install_once()
    memory = wiring.memory()
    try:
        if args.verb == "seed":
            return _seed(memory, args.rebuild)
        if args.verb == "add":
            return _add(memory, args.file, args.refuse_personal_data)
        if args.verb == "stats":
            print(json.dumps(memory.stats(), indent=2))
            return 0
        return _search(memory, args)
    except TdaError as exc:
        if isinstance(exc, ValueError):
            raise
        print(f"tda: error: {exc}", file=sys.stderr)
        return 1


def _seed(memory: Any, rebuild: bool) -> int:
    from tda.paths.retrieval.corpus import seed_corpus
    from tda.ports.memory import COLLECTIONS

    if rebuild:
        for collection in COLLECTIONS:
            n = memory.rebuild(collection)
            print(f"{collection}: {n} entries re-embedded", file=sys.stderr)
    loaded = seed_corpus()
    for collection, entries in loaded.entries.items():
        memory.add(collection, entries)
        memory.refresh(collection)
        print(f"{collection}: {len(entries)} entries", file=sys.stderr)
    print(f"seeded {loaded.total} entries into {memory.store.url}", file=sys.stderr)
    return 0


def _add(memory: Any, path: Path, refuse: bool) -> int:
    from tda.domain.errors import InvalidRequestError, TdaError
    from tda.paths.retrieval.corpus import parse_file, team_entries

    text = read_text_file(path, "file", MAX_FILE_BYTES)
    shown = input_name(path)
    source = "stdin" if str(path) == "-" else path.name
    loaded = team_entries(parse_file(text, shown), source, refuse_personal=refuse)
    if loaded.issues:
        raise InvalidRequestError(loaded.issues)  # nothing added: all or nothing
    for collection, entries in loaded.entries.items():
        if entries:
            try:
                memory.add(collection, entries, progress=_progress(collection))
            except TdaError:
                # Batches before the failure are stored: say that a second try doubles nothing.
                print(f"{collection}: stopped; adding {shown} again is safe (kept by id)",
                      file=sys.stderr)  # fmt: skip
                raise
            memory.refresh(collection)
            print(f"{collection}: {len(entries)} entries", file=sys.stderr)
    masked = ", ".join(f"{n} {kind}" for kind, n in loaded.masking.counts.items())
    if masked:
        print(f"masked personal data: {masked}", file=sys.stderr)
    print(f"added {loaded.total} entries to {memory.store.url}", file=sys.stderr)
    return 0


def _progress(collection: str) -> Callable[[int, int], None]:
    """A line on stderr at each tenth of a long write (embedding runs ≈230 entries a second
    here): a team's 50,000 examples took minutes without a word."""
    shown = [0]

    def report(done: int, total: int) -> None:
        if total > PROGRESS_FROM and done < total and done * 10 // total > shown[0]:
            shown[0] = done * 10 // total
            print(f"{collection}: {done}/{total} entries embedded", file=sys.stderr)

    return report


def _search(memory: Any, args: argparse.Namespace) -> int:
    from tda.ports.memory import Filters

    if not 1 <= args.k <= MAX_K:
        raise CliInputError(f"-k: must be 1 to {MAX_K} (got {args.k})")
    if not args.text.strip():
        raise CliInputError("text: must not be empty")
    filters = Filters(entity=args.entity)
    hits = memory.search(args.collection, args.text, filters, args.k, args.mode)
    for hit in hits:
        e = hit.entry
        print(f"{hit.score:8.4f}  {e.id:<24} {e.entity:<8} {e.scenario:<22} {e.text[:80]}")
    if not hits:
        print("nothing found (tda rag seed loads the shipped corpus)", file=sys.stderr)
    return 0
