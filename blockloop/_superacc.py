"""Exact sums for ``exact=True``: a superaccumulator per tile, folded exactly, rounded once.

A float64 (or float32) value is an integer multiple of 2**-1074. An accumulator holds the
exact sum of its terms as such an integer, in ``LIMBS`` signed 64-bit limbs of 32 bits each
(limb ``k`` weighs 2**(32 k - 1074)); a term, split by its exponent, is added to three
limbs, and carries are propagated lazily (when a limb grows past 2**61, at a tile's end and
after each merge). Merging two accumulators
adds their limbs: integer addition, so the fold order cannot change the result. At the end
the integer is rounded once, to nearest with ties to even, to the accumulator's dtype. The
result is the correctly rounded sum of the terms (``math.fsum``'s answer), whatever the
tiles, threads, chunks, interruptions or MPI ranks.

Beside the limbs each accumulator has four flags: a +inf, a -inf, a nan, and a term
other than -0.0 (IEEE: a sum of -0.0 terms only is -0.0, any other zero sum is
+0.0). inf - inf is nan, as in IEEE arithmetic; a finite sum too large for the dtype
rounds to an infinity.

The helpers generated modules call are in :mod:`blockloop._exact`.
"""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

__all__ = ["FORMATS", "LIMBS", "WIDTH", "add_term", "flat_index", "merge", "normalise", "round_to"]

LIMBS = 67
"""Limbs of 32 bits: 2**-1074 up to 2**1070, room for carries of 2**60 terms of any size."""
_PINF, _NINF, _NAN, _NONNEG = range(LIMBS, LIMBS + 4)
WIDTH = LIMBS + 4
"""int64 slots of one exact accumulator element: the limbs and four flags."""
_MASK = (1 << 32) - 1
_LIMIT = 1 << 61  # a limb this large has its carries propagated
_TINY = 2.2250738585072014e-308  # the smallest normal float64
_P537 = 2.0**537  # 2**1074 = (2**537)**2: scales a subnormal to its integer exactly
FORMATS = {np.dtype(np.float64): (53, 0), np.dtype(np.float32): (24, 925)}
"""Bits of precision, and the lowest bit (above 2**-1074) of the dtype's subnormals."""


@register_jitable
def normalise(acc, e):
    """Propagate the carries of element ``e``: limbs 0 .. LIMBS-2 in [0, 2**32), the top
    one signed."""
    carry = 0
    for k in range(LIMBS - 1):
        v = acc[e, k] + carry
        carry = v >> 32
        acc[e, k] = v - (carry << 32)
    acc[e, LIMBS - 1] += carry


@register_jitable(inline="always")
def add_term(acc, e, x):
    """Add one float term to element ``e`` of ``acc`` (``(elements, WIDTH)`` int64)."""
    bits = np.float64(x).view(np.int64)
    field = (bits >> 52) & 0x7FF
    if field == 0 or field == 0x7FF:  # zero, subnormal, inf or nan: rare
        _add_special(acc, e, bits)
        return
    mant = (bits & 0xFFFFFFFFFFFFF) | 0x10000000000000  # x = mant * 2**(field - 1075)
    _add_mantissa(acc, e, mant, field - 1, bits < 0)


@register_jitable(inline="always")
def _add_mantissa(acc, e, mant, shift, negative):
    """Add (or subtract) ``mant * 2**(shift - 1074)`` into element ``e``: three limbs."""
    k = shift >> 5
    off = shift & 31
    lo = (mant & _MASK) << off
    hi = (mant >> 32) << off
    d0 = lo & _MASK
    d1 = (lo >> 32) + (hi & _MASK)
    d2 = hi >> 32
    if negative:
        d0, d1, d2 = -d0, -d1, -d2
    v0 = acc[e, k] + d0
    v1 = acc[e, k + 1] + d1
    v2 = acc[e, k + 2] + d2
    acc[e, k] = v0
    acc[e, k + 1] = v1
    acc[e, k + 2] = v2
    acc[e, _NONNEG] = 1
    # a term adds less than 2**33 to a limb: carry before any limb can reach 2**63
    if (abs(v0) | abs(v1) | abs(v2)) >= _LIMIT:
        normalise(acc, e)


@register_jitable
def _add_special(acc, e, bits):
    """Zeros, subnormals (``mant * 2**-1074``), infinities and nans."""
    mant = bits & 0xFFFFFFFFFFFFF
    if (bits >> 52) & 0x7FF:  # inf or nan
        if mant != 0:
            acc[e, _NAN] = 1
        elif bits < 0:
            acc[e, _NINF] = 1
        else:
            acc[e, _PINF] = 1
    elif mant != 0:
        _add_mantissa(acc, e, mant, 0, bits < 0)
    elif bits >= 0:  # +0.0
        acc[e, _NONNEG] = 1


@register_jitable
def merge(dst, d, src, s):
    """Element ``d`` of ``dst`` += element ``s`` of ``src`` (both normalised); ``dst``
    normalised afterwards."""
    for k in range(LIMBS):
        dst[d, k] += src[s, k]
    for f in range(_PINF, WIDTH):
        dst[d, f] = max(dst[d, f], src[s, f])
    normalise(dst, d)


@register_jitable
def _bit(t, b):
    k = min(b >> 5, LIMBS - 1)
    return (t[k] >> (b - 32 * k)) & 1


@register_jitable
def round_to(acc, e, digits, lowest):
    """Element ``e``'s exact value rounded to ``digits`` bits (nearest, ties to even), no
    bit below ``lowest`` (in units of 2**-1074): a float64 holding the rounded value."""
    if acc[e, _NAN] != 0 or (acc[e, _PINF] != 0 and acc[e, _NINF] != 0):
        return math.nan
    if acc[e, _PINF] != 0:
        return math.inf
    if acc[e, _NINF] != 0:
        return -math.inf
    tt = acc[e : e + 1].copy()
    normalise(tt, 0)
    nonneg = tt[0, _NONNEG] != 0
    negative = tt[0, LIMBS - 1] < 0
    if negative:
        for k in range(LIMBS):
            tt[0, k] = -tt[0, k]
        normalise(tt, 0)
    t = tt[0]
    h = LIMBS - 1
    while h >= 0 and t[h] == 0:
        h -= 1
    if h < 0:
        return 0.0 if nonneg else -0.0
    top = t[h]
    length = 32 * h
    while top:
        top >>= 1
        length += 1
    shift = max(length - digits, lowest)
    q = np.int64(0)
    for b in range(length - 1, shift - 1, -1):
        q = (q << 1) | _bit(t, b)
    if shift > 0 and _bit(t, shift - 1):
        p = shift - 1
        sticky = (t[min(p >> 5, LIMBS - 1)] & ((np.int64(1) << (p & 31)) - 1)) != 0
        k = (p >> 5) - 1
        while not sticky and k >= 0:
            sticky = t[k] != 0
            k -= 1
        if sticky or (q & 1):
            q += 1
    value = math.ldexp(float(q), shift - 1074)
    return -value if negative else value


@register_jitable
def flat_index(shape, index):
    """The C-order position of ``index`` (an integer or a tuple of them; negative ones
    count from the end) in an array of ``shape`` (whose last axis is the slots)."""
    if isinstance(index, int):
        return index + shape[0] if index < 0 else index
    flat = 0
    for k in range(len(index)):
        i = index[k]
        flat = flat * shape[k] + (i + shape[k] if i < 0 else i)
    return flat
