"""Values drawn from a caller's regex, within the bounds ``tda.domain.regexes`` checked.

A pattern is compiled once into a drawer: each node of Python's parse of it becomes a constant, a
pick among constants or a small function, so a value costs one random draw per choice the
pattern makes and nothing more. ``rstr`` walked the parse instead, every node of it for every
character (≈2.3 µs a character of ``(ab|cd){500}``: 2.3 s for 1000 values, 10-20 s on a busy
server); the drawer makes the very same values from the same seed, drawing the same random
numbers in the same order, 4-18x faster (``bench/bench_regex.py``). ``rstr`` still names the
alphabets (``\\d``, ``\\w``, ``.``), with RE2's ``\\s``.

Apart from the checks: only a field with a regex draws, and ``rstr`` with ``string`` is ≈1.5 ms
of an import that most requests never need.
"""

from __future__ import annotations

import random
import re._constants as sre_constants
import string
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

import rstr

from tda.domain.regexes import MATCHERS_KEPT, drawn_repeats, parse

# RE2's whitespace class; rstr's also holds \v, which RE2's ``\s`` does not match.
_WHITESPACE = " \t\n\r\f"
# What '.' draws: printable ASCII but the newline, as rstr's own.
_ANY = tuple(c for c in string.printable if c != "\n")

Draw = Callable[[random.Random], str]


class Pick(tuple[str, ...]):
    """One of these strings, drawn with one ``choice``: a class, '.', a branch of constants."""


# A compiled node: a constant (no draw), a pick, or a function of the random source.
Node = str | Pick | Draw


@lru_cache(maxsize=MATCHERS_KEPT)
def drawer(pattern: str) -> Draw:
    """A function drawing one value of ``pattern`` (which passed ``regexes.check``) from a
    random source; compiled once per pattern."""
    return _as_draw(_Compiler().sequence(parse(pattern)))


def _as_draw(node: Node) -> Draw:
    if isinstance(node, Pick):
        options = node
        return lambda source: source.choice(options)
    if isinstance(node, str):
        constant = node
        return lambda _source: constant
    return node


class _Alphabets(rstr.Rstr):
    """rstr's alphabets and character classes, with RE2's ``\\s``; asked while compiling."""

    def __init__(self) -> None:
        super().__init__(random.Random(0), whitespace=_WHITESPACE)

    def character_class(self, items: Any) -> list[str]:
        """The candidates of ``[...]`` in rstr's order; a negated class sorted, as sets iterate
        by hash."""
        drawn: list[Any] = list(chain(*(self._handle_state(item) for item in items)))
        if drawn[0] is False:
            drawn = sorted(set(string.printable).difference(drawn[1:]))
        return drawn

    def category(self, name: Any) -> str:
        alphabet: str = self._categories[name.name.lower()]()
        return alphabet


class _Compiler:
    """Python's parse of a pattern, node by node, into what ``drawer`` runs. Each node draws as
    rstr drew it (``xeger.Xeger._cases``), with repeats bounded by ``drawn_repeats``."""

    def __init__(self) -> None:
        self._alphabets = _Alphabets()

    def sequence(self, states: Sequence[Any]) -> Node:
        nodes: list[Node] = []
        for op, av in states:
            node = self.state(op, av)
            if isinstance(node, str) and nodes and isinstance(nodes[-1], str):
                nodes[-1] += node  # constants run together: one piece, not two
                continue
            nodes.append(node)
        if not nodes:
            return ""
        if len(nodes) == 1:
            return nodes[0]
        draws = [_as_draw(node) for node in nodes]
        return lambda source: "".join([draw(source) for draw in draws])

    def state(self, op: Any, av: Any) -> Node:
        if op is sre_constants.LITERAL:
            return chr(av)
        if op is sre_constants.NOT_LITERAL:
            return Pick(string.printable.replace(chr(av), ""))
        if op is sre_constants.IN:
            return Pick(self._alphabets.character_class(av))
        if op is sre_constants.ANY:
            return Pick(_ANY)
        if op is sre_constants.CATEGORY:
            return self._alphabets.category(av)  # as rstr: the whole alphabet (never met alone)
        if op is sre_constants.AT:
            return ""
        if op is sre_constants.SUBPATTERN:
            return self.sequence(av[-1])
        if op is sre_constants.BRANCH:
            return self._branch(av[1])
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            return self._repeat(*av)
        # Backreferences and lookaround: RE2 refused them in ``regexes.check``.
        raise ValueError(f"regex node {op} cannot be drawn")

    def _branch(self, branches: Sequence[Any]) -> Node:
        options = [self.sequence(branch) for branch in branches]
        constants = [option for option in options if isinstance(option, str)]
        if len(constants) == len(options):
            return Pick(constants)
        draws = [_as_draw(option) for option in options]
        return lambda source: source.choice(draws)(source)

    def _repeat(self, low: int, high: int, body: Any) -> Node:
        high = drawn_repeats(low, high)
        single = self._single_character(body)
        item = single if single is not None else self.sequence(body)
        if isinstance(item, Pick):  # [a-z]{1000}, \d+, (ab|cd){500}: a draw a repeat
            return lambda source: "".join(
                [source.choice(item) for _ in range(source.randint(low, high))]
            )
        if isinstance(item, str):
            return lambda source: item * source.randint(low, high)
        draw = item
        return lambda source: "".join([draw(source) for _ in range(source.randint(low, high))])

    def _single_character(self, body: Any) -> Pick | None:
        """A repeated single character, as a pick: a literal repeated is drawn too (a choice of
        one), and a category is one of its characters, as the values drawn so far were."""
        if len(body) != 1:
            return None
        op, av = body[0]
        if op is sre_constants.CATEGORY:
            return Pick(self._alphabets.category(av))
        if op is sre_constants.LITERAL:
            return Pick((chr(av),))
        if op in (sre_constants.IN, sre_constants.ANY):
            node = self.state(op, av)
            assert isinstance(node, Pick)
            return node
        return None
