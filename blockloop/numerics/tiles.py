"""Small numba helpers that generated modules import: tile partials and their pairwise fold."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, types
from numba.extending import overload, register_jitable
from numba.np.numpy_support import as_dtype

from ..operators import HELPER_OPS as OPS
from ..operators import REDUCTIONS, tile_for

__all__ = [
    "_bl_close",
    "_bl_flat",
    "_bl_open",
    "_bl_parts",
    "_bl_popcount",
    "_bl_rank_tiles",
    "_bl_rlen",
    "_bl_tile_for",
]


def _bl_open(parts, j, identity, like):  # pragma: no cover - replaced by the overload
    """Tile ``j``'s private accumulator: ``identity`` for a scalar, a view of row ``j`` of
    ``parts`` for arrays."""
    raise NotImplementedError


def _bl_close(parts, j, value):  # pragma: no cover - replaced by the overload
    """Store tile ``j``'s scalar partial in row ``j`` of ``parts`` (array partials already
    live there). The partials and the index, not a view of the row: numba marks a parallel
    loop's arrays ``noalias`` only when nothing in its body may alias them, and a view made
    in every tile did (cg's steps, a stencil, ran 2-3 % slower without ``noalias``)."""
    raise NotImplementedError


def _bl_flat(value):  # pragma: no cover - replaced by the overload
    """A fresh contiguous 1-D copy of a scalar or an array."""
    raise NotImplementedError


@overload(_bl_open)
def _open_impl(parts, j, identity, like):
    if isinstance(like, types.Array):

        def impl(parts, j, identity, like):
            row = parts[j]
            row[:] = identity
            return row.reshape(like.shape)

    else:

        def impl(parts, j, identity, like):
            return identity

    return impl


@overload(_bl_close)
def _close_impl(parts, j, value):
    if isinstance(value, types.Array):

        def impl(parts, j, value):
            pass

    else:

        def impl(parts, j, value):
            parts[j, 0] = value

    return impl


@overload(_bl_flat)
def _flat_impl(value):
    if isinstance(value, types.Array):

        def impl(value):
            return value.copy().reshape(value.size)

    else:

        def impl(value):
            return np.full(1, value)

    return impl


@njit(cache=True, nogil=True)
def _bl_popcount(k):
    count = 0
    while k:
        k &= k - 1
        count += 1
    return count


# -- reductions inside a step (see blockloop.transform.instep) ---------------------------


@register_jitable
def _bl_rlen(start, stop, step):
    """``len(range(start, stop, step))``."""
    if step > 0:
        return max(0, (stop - start + step - 1) // step)
    return max(0, (start - stop - step - 1) // -step)


_bl_tile_for = register_jitable(tile_for)


@register_jitable
def _bl_rank_tiles(start, count, tile, lo, hi, rows, aligned):
    """The tiles ``first .. last`` of an in-step reduction over ``count`` iterations from
    ``start`` that an MPI rank owning rows ``lo .. hi`` of ``rows`` computes (those whose
    first iteration lies in its block; the first and last ranks take any before and
    after), and whether no tile straddles its block's edges (needed when ``aligned``)."""
    total = (count + tile - 1) // tile
    first = 0 if lo <= 0 else min(max((lo - start + tile - 1) // tile, 0), total)
    last = total if hi >= rows else min(max((hi - start + tile - 1) // tile, 0), total)
    ok = True
    if aligned:
        for edge in (lo, hi):
            if start < edge < start + count and (edge - start) % tile != 0:
                ok = False
    return first, last, ok


def _bl_parts(count, like):  # pragma: no cover - replaced by the overload
    """``count`` rows of tile partials for an accumulator like ``like``."""
    raise NotImplementedError


@overload(_bl_parts)
def _parts_impl(count, like):
    if isinstance(like, types.Array):
        dtype = like.dtype

        def impl(count, like):
            return np.empty((count, like.size), dtype)

    else:
        dtype = like

        def impl(count, like):
            return np.empty((count, 1), dtype)

    return impl


def _scalar_dtype(like: Any) -> np.dtype:
    return as_dtype(like.dtype if isinstance(like, types.Array) else like)


def _make_reduction_helpers(key: str, name: str, combine: Any) -> tuple:
    """``_bl_id_<name>(like)`` (the identity in ``like``'s dtype) and
    ``_bl_fold_<name>(init, parts)`` (a pairwise fold of the partials' rows, then the
    initial value combined with the result: in place for an array)."""

    def identity(like):  # pragma: no cover - replaced by the overload
        raise NotImplementedError

    def fold(init, parts):  # pragma: no cover - replaced by the overload
        raise NotImplementedError

    @overload(identity)
    def _identity_impl(like):
        value = REDUCTIONS[key].identity(_scalar_dtype(like))

        def impl(like):
            return value

        return impl

    @register_jitable
    def pairwise(parts):
        count = parts.shape[0]
        width = 1
        while width < count:
            for q in range(0, count - width, 2 * width):
                for e in range(parts.shape[1]):
                    parts[q, e] = combine(parts[q, e], parts[q + width, e])
            width *= 2

    @overload(fold)
    def _fold_impl(init, parts):
        if isinstance(init, types.Array):

            def impl(init, parts):
                pairwise(parts)
                if parts.shape[0] > 0:
                    flat = init.reshape(init.size)
                    for e in range(init.size):
                        flat[e] = combine(flat[e], parts[0, e])
                return init

        else:

            def impl(init, parts):
                pairwise(parts)
                if parts.shape[0] == 0:
                    return init
                return combine(init, parts[0, 0])

        return impl

    identity.__name__ = f"_bl_id_{name}"
    fold.__name__ = f"_bl_fold_{name}"
    return identity, fold


_COMBINE = {
    "add": register_jitable(lambda a, b: a + b),
    "mul": register_jitable(lambda a, b: a * b),
    "or": register_jitable(lambda a, b: a | b),
    "and": register_jitable(lambda a, b: a & b),
    "xor": register_jitable(lambda a, b: a ^ b),
    "min": register_jitable(lambda a, b: min(a, b)),
    "max": register_jitable(lambda a, b: max(a, b)),
}
# the operator each helper name stands for (``-`` folds like ``+``)
_KEYS = {name: key for key, name in OPS.items() if key != "-"}

for _name, _combine in _COMBINE.items():
    _identity, _fold = _make_reduction_helpers(_KEYS[_name], _name, _combine)
    globals()[_identity.__name__] = _identity
    globals()[_fold.__name__] = _fold
    __all__ += [_identity.__name__, _fold.__name__]
