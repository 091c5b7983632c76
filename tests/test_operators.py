"""Every reduction operator, whole-array and in-place accumulators, dtypes, against Python."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit, prange

from blockloop import checkpointed_loop
from tests.golden import operators, whole_array_no_epilogue


def test_all_operators_match_python(ckdir):
    a = np.random.default_rng(5).integers(-1000, 1000, 30_000)
    kernel = checkpointed_loop(operators.ops)
    got = kernel(a, 3)
    want = operators.ops(a, 3)  # plain Python: numba.prange is range outside numba
    s, p, bits, both, odd, low = got
    assert (s, bits, both, odd, low) == tuple(int(v) for v in (want[0], *want[2:]))
    assert p == pytest.approx(want[1], rel=1e-12)
    assert kernel.last_report.tiles_total > 1


def test_whole_array_accumulator_updates_the_argument_in_place(ckdir):
    x = np.linspace(0.0, 1.0, 50_001)
    out = np.array([10.0, 0.0, 0.0])
    kernel = checkpointed_loop(whole_array_no_epilogue.moments)
    assert kernel(x, out) is None
    np.testing.assert_allclose(out, [10.0 + x.size, x.sum(), (x * x).sum()], rtol=1e-12)


def test_float32_accumulators_stay_float32(ckdir):
    @checkpointed_loop
    @njit(parallel=True)
    def total32(x):
        s = np.float32(0.0)
        for i in prange(x.shape[0]):
            s += x[i]
        return s

    x = np.full(100_000, 0.1, dtype=np.float32)
    result = total32(x)
    assert isinstance(result, float)  # numba boxes float32 as a Python float ...
    assert np.float32(result) == result  # ... but the sum was done in float32
    assert abs(result - 10_000.0) < 1.0


def test_min_max_integer_identities(ckdir):
    @checkpointed_loop
    @njit(parallel=True)
    def extremes(x):
        lo = 0
        hi = 0
        for i in prange(x.shape[0]):
            lo = min(lo, x[i])
            hi = max(x[i], hi)
        return lo, hi

    x = np.random.default_rng(2).integers(-(2**40), 2**40, 10_000)
    assert extremes(x) == (min(0, x.min()), max(0, x.max()))


def test_bitwise_on_floats_is_a_clear_error(ckdir):
    @checkpointed_loop
    @njit(parallel=True)
    def bad(x):
        s = 0.0
        for i in prange(x.shape[0]):
            s |= x[i]
        return s

    with pytest.raises(
        TypeError, match=r"test_operators.py, line \d+: numba cannot compile"
    ) as info:
        bad(np.ones(10))
    assert "ior(float64, float64)" in str(info.value.__cause__)
