"""A function defined inside the kernel (issue 29): compiled beside the blocked code.

The kernels follow shapes found in public libraries: pycox's ``_inv_cens_scores`` defines
a small row filler inside its kernel and calls it with the iteration's own row; a local
distance function called with elements (as in many clustering kernels). A function that
reads the kernel's own names is a closure over them and stays refused.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit, prange

from blockloop import BlockingError, checkpointed_loop
from tests.helpers import bits, crashed_then_resumed


@njit(cache=True)
def _clip(v, lo, hi):
    return min(max(v, lo), hi)


@njit(parallel=True, cache=True)
def survival_rows(scores, grid, weights):
    def fill(row, g, w):
        for q in range(row.shape[0]):
            row[q] = _clip(w * np.exp(-g * q), 0.0, 0.9)

    for i in prange(scores.shape[0]):
        fill(scores[i], grid[i], weights[i % weights.shape[0]])
    return scores


@njit(parallel=True, cache=True)
def nearest_centre(points, centres):
    def dist2(a, b, c, d):
        return (a - c) ** 2 + (b - d) ** 2

    labels = np.empty(points.shape[0], dtype=np.int64)
    for i in prange(points.shape[0]):
        best, arg = np.inf, -1
        for k in range(centres.shape[0]):
            d = dist2(points[i, 0], points[i, 1], centres[k, 0], centres[k, 1])
            if d < best:
                best, arg = d, k
        labels[i] = arg
    return labels


@njit(parallel=True, cache=True)
def closes_over_the_scale(x, scale):
    def scaled(v):
        return v * scale

    out = np.empty_like(x)
    for i in prange(x.shape[0]):
        out[i] = scaled(x[i])
    return out


def _rows() -> tuple:
    return np.zeros((6000, 9)), np.linspace(0.0, 2.0, 6000), np.linspace(0.5, 1.5, 7)


def _points() -> tuple:
    rng = np.random.default_rng(28)
    return rng.normal(size=(20000, 2)), rng.normal(size=(12, 2))


@pytest.mark.parametrize(
    "func, inputs", [(survival_rows, _rows), (nearest_centre, _points)], ids=["rows", "values"]
)
def test_an_inner_function_is_compiled_beside_the_kernel(func, inputs, tmp_path):
    want = func(*inputs())
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(func)
    assert bits(kernel(*inputs())) == bits(want)
    name = "fill" if func is survival_rows else "dist2"
    assert f"`{name}`, defined in the kernel, is compiled beside it" in kernel.blocked_source
    assert f"\ndef {name}(" in kernel.blocked_source
    assert "weights" not in kernel.plan.blocks  # `fill` is read: it writes only its row
    if func is survival_rows:
        assert "_clip" in kernel.plan.globals_used  # the helper's helper: in the run key
    crashed_then_resumed(func, inputs, tmp_path / "kill")


def test_an_inner_function_reading_the_kernels_names_stays_refused():
    with pytest.raises(BlockingError, match="defined inside the kernel"):
        checkpointed_loop(closes_over_the_scale)
