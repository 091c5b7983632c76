"""The float sums of a scalar exact accumulator: its terms reach the limbs in twos.

A scalar accumulator first sums its terms in two floats, exactly (:func:`fast_add`): a
term within 32 binades of a scale chosen from the terms is split, by adding and
subtracting a power of two, into a high part and a low part, and ``FAST_TERMS`` of
each add up in a float without any rounding error. Only the two sums reach the limbs
(:mod:`blockloop.numerics.superacc`), every ``FAST_TERMS`` terms, as do terms outside the range
(zeros, subnormals, inf, nan, a larger term, which chooses a new scale). The result is the
same exact sum: the floats only hold its parts for a while.

A tile whose update runs at most once an iteration buffers its terms and adds ``BLOCK`` of
them at once (:func:`fast_block`), with vector instructions when all of them are in range.

The accumulator is a tuple of registers: ``(address of the limbs, 0, scale, high sum, low
sum, lowest field, highest field, terms)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable

from ..operators import XBLOCK
from .superacc import _COUNT, _bits, _from_bits, _load, _store, add_at

__all__ = ["BLOCK", "FAST_TERMS", "fast_add", "fast_block", "fast_flush", "fast_open"]

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
def _flushed(acc):
    """``acc`` with its float sums added to its limbs and emptied (the scale unchanged)."""
    fast_flush(acc)
    p, how, scale, _, _, lowest, highest, _ = acc
    return (p, how, scale, np.float64(0.0), np.float64(0.0), lowest, highest, np.int64(0))


@register_jitable
def _rescale(acc, x, field):
    """A term ``fast_add`` could not take. The float sums go to the limbs when they are
    full, before a larger term, or before a smaller one while they are empty, and such a
    term chooses the scale (one within ``_SCALES``); what is still out of range (a zero,
    a subnormal, inf, nan, an extreme, or a small term while the sums are busy) is added
    to the limbs."""
    p, how, scale, high_sum, low_sum, lowest, highest, terms = acc
    if field > highest or terms >= FAST_TERMS or (field < lowest and terms == 0):
        p, how, scale, high_sum, low_sum, lowest, highest, terms = _flushed(acc)
        if (field > highest or field < lowest) and _SCALES[0] <= field <= _SCALES[1]:
            lowest, highest = field - _WINDOW, field + 2
            scale = _from_bits((field + 14) << 52)
    acc = (p, how, scale, high_sum, low_sum, lowest, highest, terms)
    if field < lowest or field > highest:
        add_at(p, x)
        return acc
    return _take(acc, x)


BLOCK = XBLOCK
"""Terms a tile buffers before :func:`fast_block` sums them (see ``operators.XBLOCK``)."""
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
            p, how, scale, high_sum, low_sum, lowest, highest, terms = _flushed(acc)
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
