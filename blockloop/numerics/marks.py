"""The marks an inspection pass makes (see :mod:`blockloop.transform.inspection`).

``own`` holds, for each element of an inspected array, ``2 * it + w``: the first iteration
``it`` that touched it, and ``w = 1`` once that iteration wrote it (``-1``: untouched), in
an int32: the pass runs only for fewer than :data:`MAX_ITERATIONS` iterations.
``hit`` keeps the first conflict found: the array's number, the element, and the two
iterations (``-1`` while there is none); an index outside the array is element ``-2``,
``hit[2]`` the dimension and ``hit[3]`` the iteration.
"""

from __future__ import annotations

from numba.extending import register_jitable

__all__ = ["MAX_ITERATIONS", "_bl_at", "_bl_claim", "_bl_read"]

MAX_ITERATIONS = 1 << 30


@register_jitable
def _bl_at(shape, idx, hit, it, which):
    """The elements of ``idx`` in an array of ``shape``: ``(first, count)``, a whole block
    where ``idx`` has fewer indices than ``shape``; ``(0, 0)``, and the conflict noted in
    ``hit``, where ``idx`` is outside."""
    offset = 0
    for k in range(len(idx)):
        x = idx[k]
        if x < 0:
            x += shape[k]
        if x < 0 or x >= shape[k]:
            if hit[0] < 0:
                hit[0] = which
                hit[1] = -2
                hit[2] = k
                hit[3] = it
            return 0, 0
        offset = offset * shape[k] + x
    inner = 1
    for k in range(len(idx), len(shape)):
        inner *= shape[k]
    return offset * inner, inner


@register_jitable
def _bl_claim(own, arr, idx, it, write, hit, which):
    """Mark the elements ``arr[idx]`` (a whole block where ``idx`` has fewer indices than
    ``arr`` has dimensions) as touched by iteration ``it``, written if ``write``."""
    first, count = _bl_at(arr.shape, idx, hit, it, which)
    for e in range(first, first + count):
        mark = own[e]
        if mark < 0:
            own[e] = 2 * it + write
        elif mark >> 1 == it:
            own[e] = mark | write
        elif (write or mark & 1) and hit[0] < 0:
            hit[0] = which
            hit[1] = e
            hit[2] = mark >> 1
            hit[3] = it


@register_jitable
def _bl_read(own, arr, idx, it, hit, which):
    """Mark ``arr[idx]`` as read by iteration ``it``, and return it (the first element
    where ``idx`` is outside ``arr``: the pass only goes on to find the iteration)."""
    _bl_claim(own, arr, idx, it, 0, hit, which)
    if hit[1] == -2 and hit[3] == it:
        return arr.ravel()[0]
    return arr[idx]
