"""``@njit`` above ``@checkpointed_loop``: the run is still blocked and checkpointed."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit, prange

from blockloop import checkpointed_loop
from kernels.pi import pi as pi_below


@njit
@checkpointed_loop
def pi_above(n):
    step = 1.0 / n
    total = 0.0
    for i in prange(n):
        x = (i + 0.5) * step
        total += 4.0 / (1.0 + x * x)
    return total * step


@njit
@checkpointed_loop
def relax(u, steps):
    v = u.copy()
    for _step in range(steps):
        for i in prange(1, u.shape[0] - 1):
            v[i] = 0.5 * u[i] + 0.25 * (u[i - 1] + u[i + 1])
        u, v = v, u
    return u


@njit
def twice_pi(n):
    return 2.0 * pi_above(n)


def test_njit_above_gives_the_blocked_bits(ckdir):
    n = 3_000_000
    assert pi_above(n) == pi_below(n)  # same tiles, same pairwise fold
    report = pi_above.last_report  # also on pi_above.py_func
    assert report.complete and report.tiles == report.tiles_total > 1 and report.checkpoints == 1
    assert "def _bl_chunk(" in pi_above.py_func.blocked_source
    assert pi_above(n) == pi_below(n)
    assert pi_above.last_report.already_complete  # the recorded run, from numba code


def test_called_from_other_numba_code(ckdir):
    assert twice_pi(1_000_000) == 2.0 * pi_below(1_000_000)


def test_sequential_kernel_with_njit_above_updates_its_argument(ckdir):
    start = np.sin(np.linspace(0.0, 3.0, 101))
    u, expected_u = start.copy(), start.copy()
    expected = relax.py_func.original(expected_u, 7)
    got = relax(u, 7)
    assert np.array_equal(got, expected) and np.array_equal(u, expected_u)
    assert relax.last_report.unit == "step" and relax.py_func.last_report.unit == "step"


def test_applying_it_twice_is_refused():
    with pytest.raises(TypeError, match="already below"):
        checkpointed_loop(pi_above)
