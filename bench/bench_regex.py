"""Values drawn from a caller's regex: characters per CPU-second, the compiled drawer
(``tda.domain.regex_draws``) against rstr, the library a peer would use (and this service's
generator before it), in the same run.

    python bench/bench_regex.py               # 5 repeats, medians
    python bench/bench_regex.py --repeats 9

For each pattern: the drawer, rstr's ``xeger`` (which parses the pattern each value) and rstr
given the parse once; the same seed gives the drawer and rstr-parsed-once the same values where
rstr's repeat bound allows (``tests/unit/test_regex_draws.py``). Rates are characters per
CPU-second (process time); the ratio to rstr parsed once is the figure to compare.
"""

from __future__ import annotations

import argparse
import random
import re._parser as sre_parse
import statistics
import time
from collections.abc import Callable

import rstr

from tda.domain import regexes
from tda.domain.regex_draws import drawer

# Repeats up to 100: rstr cannot draw more (``{500}`` is its ValueError).
PATTERNS = [
    "(ab|cd){100}",  # the hostile bench's heavy valid request, (ab|cd){500}, a fifth as long
    r"[A-Z][a-z]{2,5}-\d{2}",
    r"[a-z0-9._%+-]{1,20}@[a-z0-9.-]{1,20}\.[a-z]{2,6}",
    "[a-z]{100}",
    "(?:a?){100}",  # a repeat in every character: the drawer's slowest per character
    r"((a|b)(c|d)){100}",
]
VALUES = 300


def rate(draw: Callable[[], str], repeats: int) -> float:
    """Median characters per CPU-second of ``VALUES`` values, over ``repeats`` runs."""
    rates = []
    for _ in range(repeats):
        started = time.process_time()
        characters = sum(len(draw()) for _ in range(VALUES))
        rates.append(characters / max(time.process_time() - started, 1e-9))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print("| pattern | drawer chars/s | rstr xeger | rstr parsed once | drawer / parsed once |")
    print("|---|---:|---:|---:|---:|")
    ratios = []
    for pattern in PATTERNS:
        regexes.check(pattern, 100_000)
        draw, ours = drawer(pattern), random.Random(1)
        theirs, parsed = rstr.Rstr(random.Random(1)), sre_parse.parse(pattern)
        drawn = rate(lambda: draw(ours), args.repeats)  # noqa: B023 (called here, in the loop)
        xeger = rate(lambda: theirs.xeger(pattern), args.repeats)  # noqa: B023
        once = rate(lambda: theirs._build_string(parsed), args.repeats)  # noqa: B023
        ratios.append(drawn / once)
        cell = pattern.replace("|", "\\|")  # a pipe ends a Markdown table's cell
        print(f"| `{cell}` | {drawn:,.0f} | {xeger:,.0f} | {once:,.0f} | {drawn / once:.1f}x |")
    print(f"\nmedian speed-up over rstr parsed once: {statistics.median(ratios):.1f}x")


if __name__ == "__main__":
    main()
