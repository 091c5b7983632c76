"""Counter-based random numbers for checkpointed kernels.

``np.random`` inside a ``prange`` loop draws from per-thread states: the numbers an
iteration gets depend on which thread ran it and on what that thread drew before, and
they start over after a resume. The functions here draw from Philox4x32-10 (Salmon et
al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): each value is a pure
function of a *key* and a *counter*, so iteration ``i`` drawing with counter ``i`` gets the
same number whatever the thread count, the chunking, the interruptions or the MPI ranks.

All of them are ``@njit`` functions, callable from kernels and from Python::

    from blockloop.random import key, normal, uniform

    @checkpointed_loop
    @njit(parallel=True)
    def estimate(n, seed):
        k = key(seed, 0)
        inside = 0
        for i in prange(n):
            x, y = uniform(k, 2 * i), uniform(k, 2 * i + 1)
            if x * x + y * y < 1.0:
                inside += 1
        return 4.0 * inside / n

Give every random quantity its own counter (``2 * i`` and ``2 * i + 1`` above) or its own
key (``key(seed, stream)``): the same (key, counter) always gives the same number. A Philox
block holds two doubles: ``x, y = uniform2(k, i)`` draws both with one counter at half the
cost (``kernels/monte_carlo_pi.py`` does).

They are inlined into the calling kernel, so that the key schedule of a loop-invariant
key is computed once per loop rather than once per draw (about 4x faster than a call).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["integers", "key", "normal", "philox4x32", "uniform", "uniform2"]

_MASK = np.uint64(0xFFFFFFFF)
_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_S32 = np.uint64(32)
_S11 = np.uint64(11)
_ZERO = np.uint64(0)
_KEY_TAG = np.uint64(0x6B6579)  # "key": key derivation uses counters no draw uses
_INV53 = 1.0 / 9007199254740992.0
_TWO_PI = 2.0 * np.pi


@njit(cache=True, inline="always")
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10: four 32-bit words from a 128-bit counter and a 64-bit key.

    Parameters
    ----------
    c0, c1, c2, c3 : uint64
        The counter's words (each below 2**32).
    k0, k1 : uint64
        The key's words (each below 2**32).

    Returns
    -------
    tuple of four uint64
        The output words, each below 2**32.
    """
    c0, c1, c2, c3 = np.uint64(c0), np.uint64(c1), np.uint64(c2), np.uint64(c3)
    k0, k1 = np.uint64(k0), np.uint64(k1)
    for _ in range(10):
        # between rounds a word's high half may hold bits that belong to no output: the
        # products read the low halves only, and the words are masked once at the end
        # (monte_carlo_pi 18 % faster than with the words masked every round)
        p0 = _M0 * (c0 & _MASK)
        p1 = _M1 * (c2 & _MASK)
        c0, c1, c2, c3 = (p1 >> _S32) ^ c1 ^ k0, p1, (p0 >> _S32) ^ c3 ^ k1, p0
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return c0 & _MASK, c1 & _MASK, c2 & _MASK, c3 & _MASK


@njit(cache=True, inline="always")
def _block(key, counter, extra):
    k = np.uint64(key)
    c = np.uint64(counter)
    return philox4x32(c & _MASK, c >> _S32, np.uint64(extra), _ZERO, k & _MASK, k >> _S32)


@njit(cache=True, inline="always")
def key(seed, stream):
    """A 64-bit key for stream ``stream`` of seed ``seed``.

    Different streams of one seed, and different seeds, give keys whose draws are
    independent for all practical purposes (they are Philox outputs keyed by the seed).

    Parameters
    ----------
    seed : int
        The seed, >= 0 and below 2**64.
    stream : int
        The stream number, >= 0 and below 2**64: one per independent random quantity.

    Returns
    -------
    uint64
        The key to draw with.
    """
    r0, r1, _, _ = _block(seed, stream, _KEY_TAG)
    return (r0 << _S32) | r1


@njit(cache=True, inline="always")
def uniform(key, counter):
    """A double in [0, 1) (53 random bits) determined by ``key`` and ``counter``.

    Parameters
    ----------
    key : uint64
        A key from :func:`key`.
    counter : int
        The draw's number, >= 0 and below 2**64: the same counter gives the same value.

    Returns
    -------
    float
        A multiple of 2**-53 in [0, 1).
    """
    r0, r1, _, _ = _block(key, counter, 0)
    return np.float64(((r0 << _S32) | r1) >> _S11) * _INV53


@njit(cache=True, inline="always")
def uniform2(key, counter):
    """Two doubles in [0, 1) from one Philox block: half the cost of two :func:`uniform`.

    The first is ``uniform(key, counter)``; the second comes from the block's other two
    words, so it differs from every ``uniform(key, c)``. A kernel that needs two numbers
    per iteration (a point in the plane) draws both with one counter.

    Parameters
    ----------
    key : uint64
        A key from :func:`key`.
    counter : int
        The draws' number, >= 0 and below 2**64: the same counter gives the same pair.

    Returns
    -------
    tuple of two floats
        Multiples of 2**-53 in [0, 1).
    """
    r0, r1, r2, r3 = _block(key, counter, 0)
    first = np.float64(((r0 << _S32) | r1) >> _S11) * _INV53
    return first, np.float64(((r2 << _S32) | r3) >> _S11) * _INV53


@njit(cache=True, inline="always")
def normal(key, counter):
    """A standard normal double determined by ``key`` and ``counter``.

    Box-Muller on two 53-bit uniforms of one Philox block.

    Parameters
    ----------
    key : uint64
        A key from :func:`key`.
    counter : int
        The draw's number, >= 0 and below 2**64: the same counter gives the same value.

    Returns
    -------
    float
        A draw from the normal distribution of mean 0 and variance 1.
    """
    r0, r1, r2, r3 = _block(key, counter, 0)
    u1 = (np.float64(((r0 << _S32) | r1) >> _S11) + 1.0) * _INV53  # (0, 1]
    u2 = np.float64(((r2 << _S32) | r3) >> _S11) * _INV53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(_TWO_PI * u2)


@njit(cache=True, inline="always")
def integers(key, counter, low, high):
    """An integer in ``[low, high)``, every value equally likely.

    64-bit words of the Philox blocks for ``key`` and ``counter`` are drawn until one lies
    below the largest multiple of the range (rejection, so there is no modulo bias); a
    rejection happens with probability below ``(high - low) / 2**64``.

    Parameters
    ----------
    key : uint64
        A key from :func:`key`.
    counter : int
        The draw's number, >= 0 and below 2**64: the same counter gives the same value.
    low, high : int
        The range: ``low`` included, ``high`` excluded.

    Returns
    -------
    int
        The draw.

    Raises
    ------
    ValueError
        If ``high <= low``.
    """
    if high <= low:
        raise ValueError("integers: high must be greater than low")
    span = np.uint64(high - low)
    limit = (_ZERO - span) % span  # 2**64 mod span: the words below it are rejected
    extra = 0
    while True:
        r0, r1, r2, r3 = _block(key, counter, extra)
        for word in ((r0 << _S32) | r1, (r2 << _S32) | r3):
            if word >= limit:
                return low + np.int64(word % span)
        extra += 1
