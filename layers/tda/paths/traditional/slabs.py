"""Slab seeds: one seed naming records ``[offset, offset + count)`` of a larger seeded batch.

The fast path answers small unseeded requests from a warm slab (``tda.paths.traditional.reservoir``): one batch of
64-1024 records generated, validated and scored at once, handed out a slice per request. The
fixed cost of a batch (hundreds of small numpy calls, about 2 ms) is then paid once per slab
instead of once per request. Each slice is still replayable: the seed reported for it encodes
the slab's own seed, its size and the slice's offset, and a request carrying that seed makes
the slab again and returns the same slice, byte for byte.

Layout of a slab seed (a non-negative int64): bit 62 set; bits 58-61 log2 of the slab size;
bits 10-57 the slab's seed; bits 0-9 the offset. Seeds drawn by the service are below 2**62, so
they are never slab seeds. A seed in the slab range that cannot name a slice of this request
(scenarios, or a slice running past the slab) is an ordinary seed.
"""

from __future__ import annotations

from tda.domain.plan import SlabWindow

SLAB_FLAG = 1 << 62
MIN_SLAB_LOG2 = 6  # 64 records
MAX_SLAB_LOG2 = 10  # 1024 records
OFFSET_BITS = MAX_SLAB_LOG2
BASE_BITS = 48
_SIZE_SHIFT = OFFSET_BITS + BASE_BITS  # 58


def slab_seed(base: int, size: int, offset: int) -> int:
    log2 = size.bit_length() - 1
    if size != 1 << log2 or not MIN_SLAB_LOG2 <= log2 <= MAX_SLAB_LOG2:
        raise ValueError(f"slab size {size} is not a power of 2 in [64, 1024]")
    if not 0 <= offset < size or not 0 <= base < 1 << BASE_BITS:
        raise ValueError(f"offset {offset} or base {base} out of range")
    return SLAB_FLAG | log2 << _SIZE_SHIFT | base << OFFSET_BITS | offset


def slab_window(seed: int, count: int) -> SlabWindow | None:
    """The slice a seed names for a request of ``count`` records, or None (an ordinary seed)."""
    if seed >> 62 != 1:
        return None
    log2 = (seed >> _SIZE_SHIFT) & 0xF
    offset = seed & ((1 << OFFSET_BITS) - 1)
    size = 1 << log2
    if not MIN_SLAB_LOG2 <= log2 <= MAX_SLAB_LOG2 or offset + count > size:
        return None
    return SlabWindow((seed >> OFFSET_BITS) & ((1 << BASE_BITS) - 1), size, offset)
