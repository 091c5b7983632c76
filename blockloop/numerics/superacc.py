"""Exact sums for ``exact=True``: a superaccumulator per tile, folded exactly, rounded once.

A float64 (or float32) value is an integer multiple of 2**-1074. An accumulator holds the
exact sum of its terms as such an integer, in ``LIMBS`` signed 64-bit limbs of 32 bits each
(limb ``k`` weighs 2**(32 k - 1074)); a term, split by its exponent, is added to three
limbs without a branch, and carries are propagated lazily (every 2**29 terms, at a tile's
end and after each merge). Merging two accumulators adds their limbs: integer addition, so
the fold order cannot change the result. At the end the integer is rounded once, to
nearest with ties to even, to the accumulator's dtype. The result is the correctly rounded
sum of the terms (``math.fsum``'s answer), whatever the tiles, threads, chunks,
interruptions or MPI ranks.

Beside the limbs each accumulator has three flags, a +inf, a -inf and a nan, and a count
of the terms added since its carries were last propagated, at least 1 once a term other
than -0.0 has been added (IEEE: a sum of -0.0 terms only is -0.0, any other zero sum is
+0.0). inf - inf is nan, as in IEEE arithmetic; a finite sum too large for the dtype
rounds to an infinity.

A scalar accumulator sums its terms in two floats first (:mod:`blockloop.numerics.fastsum`). The
helpers generated modules call are in :mod:`blockloop.numerics.exact`.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, register_jitable

__all__ = [
    "FORMATS",
    "LIMBS",
    "WIDTH",
    "add_at",
    "address",
    "flat_index",
    "merge",
    "normalise",
    "round_to",
]

LIMBS = 67
"""Limbs of 32 bits: 2**-1074 up to 2**1070, room for carries of 2**60 terms of any size."""
_PINF, _NINF, _NAN, _COUNT = range(LIMBS, LIMBS + 4)
WIDTH = LIMBS + 4
"""int64 slots of one exact accumulator element: the limbs, three flags and a count."""
_MASK = (1 << 32) - 1
_CARRY_EVERY = 1 << 29
"""Terms between carries: a term adds less than 2**33 to a limb below 2**32, so no limb
reaches 2**63 before its carries are propagated."""
FORMATS = {np.dtype(np.float64): (53, 0), np.dtype(np.float32): (24, 925)}
"""Bits of precision, and the lowest bit (above 2**-1074) of the dtype's subnormals."""


@intrinsic
def _bits(typingctx, x):
    """The bits of a float64 as an int64 (no array, no memory: a register move)."""
    if not isinstance(x, types.Float) or x.bitwidth != 64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, x):
    """The float64 with the bits of an int64."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _load(typingctx, address, k):
    """Slot ``k`` of the element at ``address``."""

    def codegen(context, builder, signature, args):
        slots = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        return builder.load(builder.gep(slots, [args[1]]))

    return types.int64(types.intp, types.intp), codegen


@intrinsic
def _store(typingctx, address, k, value):
    """Set slot ``k`` of the element at ``address``."""

    def codegen(context, builder, signature, args):
        slots = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        builder.store(args[2], builder.gep(slots, [args[1]]))
        return context.get_dummy_value()

    return types.none(types.intp, types.intp, types.int64), codegen


@register_jitable
def address(acc, e):
    """Where element ``e`` of ``acc`` (``(elements, WIDTH)`` int64, rows contiguous) is.

    The adding functions take an element by its address, not by its array: numba counts
    the references of an array passed to a function, two atomic operations that would
    cost more than the addition itself. The caller keeps ``acc`` alive meanwhile.
    """
    return acc.ctypes.data + e * acc.strides[0]


@register_jitable
def normalise_at(p):
    """Propagate the carries of the element at ``p``: limbs 0 .. LIMBS-2 in [0, 2**32),
    the top one signed."""
    carry = 0
    for k in range(LIMBS - 1):
        v = _load(p, k) + carry
        carry = v >> 32
        _store(p, k, v - (carry << 32))
    _store(p, LIMBS - 1, _load(p, LIMBS - 1) + carry)


@register_jitable
def normalise(acc, e):
    """Propagate the carries of element ``e`` of ``acc``."""
    normalise_at(address(acc, e))


@register_jitable(inline="always")
def add_at(p, x):
    """Add one float term to the element at address ``p``."""
    bits = _bits(np.float64(x))
    field = (bits >> 52) & 0x7FF
    # (no early return: numba's inlining makes slower code of it)
    if field == 0 or field == 0x7FF:  # zero, subnormal, inf or nan: rare
        _add_special(p, bits)
    else:  # x = mant * 2**(field - 1075)
        mant = (bits & 0xFFFFFFFFFFFFF) | 0x10000000000000
        _add_mantissa(p, mant, field - 1, bits >> 63)


@register_jitable(inline="always")
def _add_mantissa(p, mant, shift, sign):
    """Add ``mant * 2**(shift - 1074)`` (negated where ``sign`` is -1, without a branch):
    three limbs, and the count of terms since the last carry."""
    k = shift >> 5
    off = shift & 31
    lo = (mant & _MASK) << off
    hi = (mant >> 32) << off
    _store(p, k, _load(p, k) + (((lo & _MASK) ^ sign) - sign))
    _store(p, k + 1, _load(p, k + 1) + ((((lo >> 32) + (hi & _MASK)) ^ sign) - sign))
    _store(p, k + 2, _load(p, k + 2) + (((hi >> 32) ^ sign) - sign))
    count = _load(p, _COUNT) + 1
    _store(p, _COUNT, count)
    if count >= _CARRY_EVERY:
        normalise_at(p)
        _store(p, _COUNT, 1)


@register_jitable
def _add_special(p, bits):
    """Zeros, subnormals (``mant * 2**-1074``), infinities and nans."""
    mant = bits & 0xFFFFFFFFFFFFF
    if (bits >> 52) & 0x7FF:  # inf or nan
        _store(p, _NAN if mant != 0 else (_NINF if bits < 0 else _PINF), 1)
    elif mant != 0:
        _add_mantissa(p, mant, 0, bits >> 63)
    elif bits >= 0:  # +0.0
        _store(p, _COUNT, max(_load(p, _COUNT), 1))


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
    nonneg = tt[0, _COUNT] != 0
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
    count from the end) in an array of ``shape``."""
    if isinstance(index, int):
        return index + shape[0] if index < 0 else index
    flat = 0
    for k in range(len(index)):
        i = index[k]
        flat = flat * shape[k] + (i + shape[k] if i < 0 else i)
    return flat
