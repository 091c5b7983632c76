"""An early ``return`` before the loop (issue 29): tested first, the original kernel runs.

The kernels follow two shapes found in public libraries: a resampler that hands back its
input when the grids already match (datashader's ``_upsample_2d_linear``), and a void
kernel that returns when a slab lies outside the binned volume (diffsims'
``__density3D_pw_cpu``). Both return before any work; numba runs them race-free.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit, prange

from blockloop import BlockingError, checkpointed_loop
from tests.helpers import bits, crashed_then_resumed


@njit(cache=True)
def _extent(grid):
    return grid.shape[0], grid.shape[1]


@njit(parallel=True, cache=True)
def stretch_rows(grid, out):
    gh, gw = _extent(grid)
    oh, ow = _extent(out)
    if gh == oh and gw == ow:
        return grid
    if oh < gh:
        raise ValueError("the target is smaller than the grid")
    step = (gw - 1.0) / max(ow - 1, 1)
    for r in prange(oh):
        src = grid[r * gh // oh]
        for c in range(ow):
            x = c * step
            left = int(x)
            right = min(left + 1, gw - 1)
            out[r, c] = src[left] + (x - left) * (src[right] - src[left])
    return out


@njit(parallel=True, cache=True)
def slab_density(z, lo, cell, counts, xs, ys, out):
    plane = math.floor((z - lo) / cell)
    if plane >= counts.shape[0] or plane < 0:
        return
    for i in prange(xs.size):
        for j in range(ys.size):
            acc = 0.0
            for k in range(counts.shape[1]):
                acc += counts[plane, k] / (1.0 + (xs[i] - k) ** 2 + ys[j] ** 2)
            out[i, j] = acc


@njit(parallel=True, cache=True)
def marks_then_returns(x, out):
    out[0] = -1.0
    if x.size == 0:
        return out
    for i in prange(1, out.size):
        out[i] = x[i % x.size] * 2.0
    return out


def _grids(oh: int, ow: int) -> tuple:
    grid = np.sin(np.arange(40 * 12, dtype=np.float64)).reshape(40, 12)
    return grid, np.zeros((oh, ow))


def _slab(z: float) -> tuple:
    counts = np.cos(np.arange(8 * 30, dtype=np.float64)).reshape(8, 30) + 2.0
    xs, ys = np.linspace(0, 30, 3000), np.linspace(0, 3, 40)
    return z, 0.0, 1.0, counts, xs, ys, np.zeros((3000, 40))


@pytest.mark.parametrize(
    "func, inputs",
    [(stretch_rows, lambda: _grids(40, 12)), (slab_density, lambda: _slab(11.5))],
    ids=["same-size", "outside"],
)
def test_a_true_exit_test_runs_the_original_and_checkpoints_nothing(func, inputs, tmp_path):
    want_args = inputs()
    want = func(*want_args)
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(func)
    args = inputs()
    got = kernel(*args)
    assert bits(got) == bits(want)
    assert [bits(a) for a in args] == [bits(a) for a in want_args]
    assert kernel.last_report.returned_early and kernel.last_report.chunks == 0
    assert not list(tmp_path.iterdir())  # no run directory
    assert "def _bl_exits(" in kernel.blocked_source


@pytest.mark.parametrize(
    "func, inputs",
    [(stretch_rows, lambda: _grids(3000, 50)), (slab_density, lambda: _slab(3.5))],
    ids=["stretch", "inside"],
)
def test_a_false_exit_test_runs_blocked_and_resumes_to_plain_numbas_bits(func, inputs, tmp_path):
    crashed_then_resumed(func, inputs, tmp_path)
    kernel = checkpointed_loop(checkpoint_dir=tmp_path / "again")(func)
    kernel(*inputs())
    assert not kernel.last_report.returned_early and kernel.last_report.chunks >= 1


def test_an_exit_after_a_write_into_an_argument_is_refused_at_the_return():
    with pytest.raises(BlockingError) as info:
        checkpointed_loop(marks_then_returns)
    assert "`out[0] = -1.0`" in info.value.msg and "writes into `out`" in info.value.msg
    assert info.value.lineno == marks_then_returns.py_func.__code__.co_firstlineno + 3
