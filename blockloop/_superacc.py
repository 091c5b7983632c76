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

A scalar accumulator first sums its terms in two floats, exactly (:func:`fast_add`): a
term within 32 binades of a scale chosen from the terms is split, by adding and
subtracting a power of two, into a high part and a low part, and ``FAST_TERMS`` of
each add up in a float without any rounding error. Only the two sums reach the limbs,
every ``FAST_TERMS`` terms, as do terms outside the range (zeros, subnormals, inf, nan,
a larger term, which chooses a new scale). The result is the same exact sum: the floats
only hold its parts for a while. A tile whose update runs once an iteration buffers its terms
and adds ``BLOCK`` of them at once (:func:`fast_block`), with vector instructions when all of
them are in range.

The helpers generated modules call are in :mod:`blockloop._exact`.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, register_jitable

__all__ = [
    "FAST_TERMS",
    "FORMATS",
    "LIMBS",
    "WIDTH",
    "add_at",
    "address",
    "fast_add",
    "fast_block",
    "fast_flush",
    "fast_open",
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


FAST_TERMS = 1 << 10
"""Terms a scalar accumulator sums in two floats before they reach its limbs."""
_WINDOW = 29  # binades below the scale's own that still sum exactly in the low float
_SCALES = (64, 2000)  # exponent fields that may choose a scale: far from under/overflow


@register_jitable
def fast_open(p):
    """A scalar accumulator at address ``p`` with empty float sums: ``(p, 0, scale, high
    sum, low sum, lowest field, highest field, terms)``; no field is in range until the
    first term chooses the scale."""
    zero = np.float64(0.0)
    none = np.int64(0)
    return (p, none, zero, zero, zero, np.int64(1), none, none)


@register_jitable(inline="always")
def fast_add(acc, value):
    """``acc`` with one term added. A term whose exponent field is in the scale's range
    is split exactly, ``high = (scale + x) - scale`` and ``x - high``, into the two float
    sums; any other goes through :func:`_rescale`.

    With the scale's binade ``e`` (``scale = 2**(e + 14)``) and the range ``e - 29`` to
    ``e + 2`` (``|x| < 2**(e + 3)``): both steps are exact (Sterbenz), a high part is a
    multiple of ``2**(e - 39)`` of at most ``2**(e + 3)``, so ``FAST_TERMS`` of them stay
    within ``2**(e + 13)``, exact in a float; a low part is a multiple of ``2**(e - 81)``
    (at least the term's own ulp) of at most ``2**(e - 39)``, so ``FAST_TERMS`` of them
    are at most ``2**52`` such units, exact as well.
    """
    _, _, _, _, _, lowest, highest, terms = acc
    x = np.float64(value)
    field = (_bits(x) >> 52) & 0x7FF
    if field >= lowest and field <= highest and terms < FAST_TERMS:
        return _take(acc, x)
    return _rescale(acc, x, field)


@register_jitable(inline="always")
def _take(acc, x):
    """``acc`` with ``x`` (in its range, the sums not full) split into its float sums."""
    p, how, scale, high_sum, low_sum, lowest, highest, terms = acc
    high, low = _split(x, scale)
    return (p, how, scale, high_sum + high, low_sum + low, lowest, highest, terms + 1)


@register_jitable
def fast_flush(acc):
    """Add the float sums of ``acc`` to its limbs; their terms were finite and nonzero."""
    p, _, _, high_sum, low_sum, _, _, terms = acc
    if high_sum != 0.0:
        add_at(p, high_sum)
    if low_sum != 0.0:
        add_at(p, low_sum)
    if terms > 0:  # not only -0.0 terms: the sum's zero is +0.0
        _store(p, _COUNT, max(_load(p, _COUNT), 1))


@register_jitable
def _rescale(acc, x, field):
    """A term ``fast_add`` could not take. The float sums go to the limbs when they are
    full, before a larger term, or before a smaller one while they are empty, and such a
    term chooses the scale (one within ``_SCALES``); what is still out of range (a zero,
    a subnormal, inf, nan, an extreme, or a small term while the sums are busy) is added
    to the limbs."""
    p, how, scale, high_sum, low_sum, lowest, highest, terms = acc
    if field > highest or terms >= FAST_TERMS or (field < lowest and terms == 0):
        fast_flush(acc)
        high_sum = low_sum = np.float64(0.0)
        terms = np.int64(0)
        if (field > highest or field < lowest) and _SCALES[0] <= field <= _SCALES[1]:
            lowest, highest = field - _WINDOW, field + 2
            scale = _from_bits((field + 14) << 52)
    acc = (p, how, scale, high_sum, low_sum, lowest, highest, terms)
    if field < lowest or field > highest:
        add_at(p, x)
        return acc
    return _take(acc, x)


BLOCK = 1 << 9
"""Terms a tile buffers before :func:`fast_block` sums them (4 KiB: they stay in L1; of
256 to 1024, 512 was the fastest for a memory-bound dot product)."""
_ABS = np.int64(0x7FFFFFFFFFFFFFFF)
_NEGATIVE_ZERO = np.int64(-0x8000000000000000)  # -0.0's bits


@register_jitable
def fast_block(acc, buf, n):
    """``acc`` with the terms ``buf[:n]`` added (``n <= FAST_TERMS``): the same exact sum as
    ``n`` calls of :func:`fast_add`, in a fraction of the time.

    When every nonzero term is in the scale's range, the block is split and summed by
    vector instructions, in any order: each of the float sums then holds at most
    ``FAST_TERMS`` parts, every partial sum of which is exact (the bound in
    :func:`fast_add`), so the order cannot change them. Zeros (the -0.0 of iterations that
    skipped the update) add nothing, but a block of zeros other than -0.0 makes the sum's
    zero +0.0 (IEEE). Otherwise the terms go one by one through :func:`fast_add`.
    """
    p, how, scale, high_sum, low_sum, lowest, highest, terms = acc
    least, most = _extremes(buf, n)
    if most == 0:  # zeros only: a +0.0 among them makes the sum's zero +0.0
        signed = terms if _zeros_only_negative(buf, n) else max(terms, 1)
        return (p, how, scale, high_sum, low_sum, lowest, highest, signed)
    if least >> 52 < lowest:  # zeros (skipped iterations) do not count
        least = _least_nonzero(buf, n)
    if least >> 52 >= lowest and most >> 52 <= highest and n <= FAST_TERMS:
        if terms + n > FAST_TERMS:
            fast_flush(acc)
            high_sum = low_sum = np.float64(0.0)
            terms = np.int64(0)
        high, low = _block_sums(buf, n, scale)
        return (p, how, scale, high_sum + high, low_sum + low, lowest, highest, terms + n)
    for k in range(n):
        acc = fast_add(acc, buf[k])
    return acc


@register_jitable
def _extremes(buf, n):
    """The least and the greatest of ``|buf[:n]|``'s bit patterns (exponent field above
    the mantissa): integer min and max, which the compiler vectorises."""
    least, most = _ABS, np.int64(0)
    for k in range(n):
        b = _bits(buf[k]) & _ABS
        least = min(least, b)
        most = max(most, b)
    return least, most


@register_jitable
def _least_nonzero(buf, n):
    """The least of the nonzero ``|buf[:n]|``'s bit patterns (``_ABS`` if none)."""
    least = _ABS
    for k in range(n):
        b = _bits(buf[k]) & _ABS
        least = min(least, b if b != 0 else _ABS)
    return least


@register_jitable
def _zeros_only_negative(buf, n):
    """Whether every one of ``buf[:n]`` (zeros) is -0.0."""
    for k in range(n):
        if _bits(buf[k]) != _NEGATIVE_ZERO:
            return False
    return True


@njit(cache=True, fastmath={"reassoc"})
def _block_sums(buf, n, scale):
    """The high and the low parts of ``buf[:n]`` summed, in whatever order vector
    instructions take them: only the two sums may be reassociated (the split is a call
    compiled without fastmath, so it stays exact), and their partial sums are all exact."""
    high_sum = low_sum = np.float64(0.0)
    for k in range(n):
        high, low = _split(buf[k], scale)
        high_sum += high
        low_sum += low
    return high_sum, low_sum


@njit(cache=True)
def _split(x, scale):
    """``x`` as ``high + low``, exactly (Sterbenz), ``high`` a multiple of the scale's ulp."""
    high = (scale + x) - scale
    return high, x - high


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
