"""The helpers ``exact=True`` generated modules call, one text for every accumulator.

Each takes a *mode*: ``None`` for accumulators summed in the ordinary way (integers,
complex numbers, or any accumulator without ``exact=True``), ``WIDTH`` for exact ones; numba
picks the implementation from the types, so one generated module serves both. The
arithmetic is in :mod:`blockloop.numerics.superacc` and :mod:`blockloop.numerics.fastsum`.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.core.errors import TypingError
from numba.extending import overload, register_jitable
from numba.np.numpy_support import as_dtype

from ..operators import EXACT_HELPERS
from .fastsum import BLOCK, fast_add, fast_block, fast_flush, fast_open
from .superacc import FORMATS, WIDTH, add_at, address, flat_index, merge, normalise, round_to

_BYTES = 8 * WIDTH  # one exact element

__all__ = ["WIDTH", *EXACT_HELPERS]


# -- what generated modules call ------------------------------------------------------


def _bl_xopen(row, identity, like, mode):  # pragma: no cover - replaced by the overload
    """A tile's accumulator, kept in its row of partials and updated there in place: the
    row set to the identity (mode None) or the zeroed exact slots."""
    raise NotImplementedError


def _bl_xadd(acc, value):  # pragma: no cover - replaced by the overload
    """``acc += value``: the accumulator afterwards (``s = _bl_xadd(s, e)``); an array's is
    updated in place, an exact scalar's carries its float sums from term to term."""
    raise NotImplementedError


def _bl_xbuf(acc):  # pragma: no cover - replaced by the overload
    """A tile's buffer of terms for ``acc`` (an exact scalar's; a placeholder for others).

    The tile loop then runs in blocks of ``BLOCK`` iterations: ``s += e`` becomes
    ``s = _bl_xput(s, buf, q, e)`` at the block's ``q``-th iteration (where the update may
    not run, the buffer is cleared to -0.0 before the block), and each block ends with
    ``s = _bl_xsum(s, buf, n)``. An exact scalar's terms wait in the buffer and are
    summed together, by vector instructions; any other accumulator takes each term at once.
    """
    raise NotImplementedError


def _bl_xput(acc, buf, q, value):  # pragma: no cover - replaced by the overload
    """The block's ``q``-th ``acc += value``: buffered, or added at once (see _bl_xbuf)."""
    raise NotImplementedError


def _bl_xsum(acc, buf, n):  # pragma: no cover - replaced by the overload
    """``acc`` with the block's ``n`` buffered terms added (see _bl_xbuf)."""
    raise NotImplementedError


def _bl_xupd(acc, index, value):  # pragma: no cover - replaced by the overload
    """``acc[index] += value``."""
    raise NotImplementedError


def _bl_xclose(row, acc, mode):  # pragma: no cover - replaced by the overload
    """Store a tile's partial in ``row`` (an exact one: propagate its carries)."""
    raise NotImplementedError


def _bl_xmerge(a, b, mode):  # pragma: no cover - replaced by the overload
    """``a += b`` for two partial rows (stack rows)."""
    raise NotImplementedError


def _bl_xfinish(init, stack, depth, mode):  # pragma: no cover - replaced by the overload
    """The stack's ``depth`` rows summed, then the initial value: a flat array of the
    accumulator's dtype (an exact one rounded once)."""
    raise NotImplementedError


def _exact(mode: object) -> bool:
    return not isinstance(mode, (types.NoneType, types.Omitted))


@overload(_bl_xopen)
def _xopen_impl(row, identity, like, mode):
    # (the tile's values, how to read them, ...): (a view of the row, None) when summed as
    # without exact=True; for an exact array (the address of its first element, its
    # shape), and for an exact scalar (its address, 0, then the float sums of
    # _fastsum.fast_open): the row stays alive in the chunk's partials while the tile runs
    if not _exact(mode):
        if isinstance(like, types.Array):

            def plain_array(row, identity, like, mode):
                row[:] = identity
                return row.reshape(like.shape), None

            return plain_array

        def plain(row, identity, like, mode):
            row[0] = identity
            return row[:1], None

        return plain
    if isinstance(like, types.Array):

        def impl(row, identity, like, mode):
            row[:] = 0
            return row.ctypes.data, like.shape

    else:

        def impl(row, identity, like, mode):
            row[:] = 0
            return fast_open(row.ctypes.data)

    return impl


def _exact_scalar(acc: object) -> bool:
    """Whether ``acc`` is an exact scalar's accumulator (its second field an integer)."""
    fields = getattr(acc, "types", None)
    return fields is not None and len(fields) > 1 and isinstance(fields[1], types.Integer)


@overload(_bl_xadd)
def _xadd_impl(acc, value):
    how = acc.types[1]
    if isinstance(how, types.NoneType):
        if acc.types[0].ndim == 1 and not isinstance(value, types.Array):

            def plain(acc, value):  # a scalar (in a 1-element view) or a 1-D array
                view = acc[0]
                if view.shape[0] == 1:
                    view[0] += value
                else:
                    view += value
                return acc

            return plain

        def plain_array(acc, value):
            view = acc[0]
            view += value
            return acc

        return plain_array
    if _exact_scalar(acc):

        def scalar(acc, value):
            return fast_add(acc, value)

        return scalar
    if isinstance(value, types.Array):

        def impl(acc, value):
            flat = value.ravel()
            if flat.size != _size(acc[1]):
                raise ValueError("exact=True: an update of another shape than the accumulator")
            for e in range(flat.size):
                add_at(acc[0] + e * _BYTES, flat[e])
            return acc

    else:

        def impl(acc, value):
            for e in range(_size(acc[1])):
                add_at(acc[0] + e * _BYTES, value)
            return acc

    return impl


@overload(_bl_xbuf)
def _xbuf_impl(acc):
    if _exact_scalar(acc):
        return lambda acc: np.empty(BLOCK, np.float64)
    return lambda acc: np.empty(0, np.float64)


@overload(_bl_xput)
def _xput_impl(acc, buf, q, value):
    if _exact_scalar(acc):

        def buffered(acc, buf, q, value):
            buf[q] = np.float64(value)
            return acc

        return buffered
    return lambda acc, buf, q, value: _bl_xadd(acc, value)


@overload(_bl_xsum)
def _xsum_impl(acc, buf, n):
    if _exact_scalar(acc):
        return lambda acc, buf, n: fast_block(acc, buf, n)
    return lambda acc, buf, n: acc


@register_jitable
def _size(shape):
    n = 1
    for s in shape:
        n *= s
    return n


@overload(_bl_xupd)
def _xupd_impl(acc, index, value):
    if isinstance(acc.types[1], types.NoneType):

        def plain(acc, index, value):
            view = acc[0]
            view[index] += value

        return plain
    parts = getattr(index, "types", (index,))  # a tuple index, or one integer
    one = all(isinstance(t, types.Integer) for t in parts)
    if not one or len(parts) != len(acc.types[1]) or isinstance(value, types.Array):
        raise TypingError(
            "exact=True sums indexed updates one element at a time (h[k] += e, "
            "h[k, m] += e); write a loop over the elements"
        )

    def impl(acc, index, value):
        add_at(acc[0] + flat_index(acc[1], index) * _BYTES, value)

    return impl


@overload(_bl_xclose)
def _xclose_impl(row, acc, mode):
    if not _exact(mode):
        return lambda row, acc, mode: None  # the values are in the row already
    if _exact_scalar(acc):  # its float sums first

        def scalar(row, acc, mode):
            fast_flush(acc)
            normalise(row.reshape((1, WIDTH)), 0)

        return scalar

    def impl(row, acc, mode):
        slots = row.reshape((row.size // WIDTH, WIDTH))
        for e in range(slots.shape[0]):
            normalise(slots, e)

    return impl


@overload(_bl_xmerge)
def _xmerge_impl(a, b, mode):
    if not _exact(mode):

        def plain(a, b, mode):
            for e in range(a.shape[0]):
                a[e] = a[e] + b[e]

        return plain

    def impl(a, b, mode):
        x = a.reshape((a.size // WIDTH, WIDTH))
        y = b.reshape((b.size // WIDTH, WIDTH))
        for e in range(x.shape[0]):
            merge(x, e, y, e)

    return impl


@overload(_bl_xfinish)
def _xfinish_impl(init, stack, depth, mode):
    if not _exact(mode):
        if isinstance(init, types.Array):

            def plain_array(init, stack, depth, mode):
                out = init.copy().reshape(init.size)
                if depth > 0:
                    folded = stack[0].copy()
                    for q in range(1, depth):
                        for e in range(folded.shape[0]):
                            folded[e] = folded[e] + stack[q, e]
                    for e in range(out.shape[0]):
                        out[e] = out[e] + folded[e]
                return out

            return plain_array

        def plain(init, stack, depth, mode):
            out = np.full(1, init)
            if depth > 0:
                folded = stack[0].copy()
                for q in range(1, depth):
                    for e in range(folded.shape[0]):
                        folded[e] = folded[e] + stack[q, e]
                out[0] = out[0] + folded[0]
            return out

        return plain
    key = as_dtype(init.dtype if isinstance(init, types.Array) else init)
    if key not in FORMATS:
        raise TypingError(f"exact=True sums float64 and float32 accumulators, not {key}")
    digits, lowest = FORMATS[key]
    scalar = key.type
    if isinstance(init, types.Array):

        def impl(init, stack, depth, mode):
            flat = init.ravel()
            total = np.zeros((flat.size, WIDTH), np.int64)
            for q in range(depth):
                node = stack[q].reshape((flat.size, WIDTH))
                for e in range(flat.size):
                    merge(total, e, node, e)
            out = np.empty(flat.size, scalar)
            for e in range(flat.size):
                add_at(address(total, e), flat[e])
                out[e] = round_to(total, e, digits, lowest)
            return out

    else:

        def impl(init, stack, depth, mode):
            total = np.zeros((1, WIDTH), np.int64)
            for q in range(depth):
                merge(total, 0, stack, q)
            add_at(address(total, 0), init)
            out = np.empty(1, scalar)
            out[0] = round_to(total, 0, digits, lowest)
            return out

    return impl
