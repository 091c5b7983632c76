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

__all__ = ["MAX_ITERATIONS", "_bl_at"]

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
