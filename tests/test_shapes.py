"""Kernels shaped like real library code: each once crashed at the first call or was refused
though blockloop can run it. Each runs blocked, checkpointing every chunk, to the bits of a
blocked run without checkpoints and to plain numba's result up to the order of the sum."""

from __future__ import annotations

import numpy as np
import pytest

from blockloop import checkpointed_loop
from tests import shapes_kernels as k


def _blocked(kernel, tmp_path):
    return checkpointed_loop(checkpoint_dir=tmp_path, interval=1e-6)(kernel)


def _same(kernel, tmp_path, *args, **kwargs):
    """The result of ``kernel`` checkpointing every chunk; asserts that it has the bits of
    a run that never checkpoints and plain numba's value up to rounding."""
    every = _blocked(kernel, tmp_path / "every")(*args, **kwargs)
    never = checkpointed_loop(checkpoint_dir=tmp_path / "never", interval=1e9)(kernel)
    assert np.array_equal(every, never(*args, **kwargs))
    np.testing.assert_allclose(every, kernel(*args, **kwargs), rtol=1e-12)
    return every


def _data(n=20_011, seed=3):
    return np.random.default_rng(seed).standard_normal(n)


def test_augmented_assignment_to_an_argument_after_a_reduction(tmp_path):
    x = _data()
    s = _blocked(k.scaled_sum, tmp_path)(x, 3.0)
    assert np.array_equal(x, 2.0 * _data())  # doubled once, by the epilogue
    np.testing.assert_allclose(s, 1.5 * _data().sum(), rtol=1e-12)


def test_augmented_assignment_to_an_argument_after_a_time_loop(tmp_path):
    u_plain, u = _data(257), _data(257)
    expected = k.relax_then_scale(u_plain, 300)
    result = _blocked(k.relax_then_scale, tmp_path)(u, 300)
    assert np.array_equal(result, expected) and np.array_equal(u, u_plain)


def test_namedtuple_argument_keeps_its_attributes(tmp_path):
    grid = k.Grid(_data(), _data(seed=4))
    _same(k.weighted_sum, tmp_path, grid)


def test_prange_variable_name_reused_by_a_later_loop(tmp_path):
    x = _data()
    assert _same(k.sum_then_moments, tmp_path, x, 4).shape == (4,)


def test_keyword_only_parameter(tmp_path):
    _same(k.keyword_only, tmp_path, _data(), scale=0.5)  # numba itself needs it passed


def test_positional_only_parameters(tmp_path):
    x, y = _data(), _data(seed=5)
    _same(k.positional_only, tmp_path, x, y, z=0.25)
    blocked = _blocked(k.positional_only, tmp_path)
    with pytest.raises(TypeError):
        blocked(x=x, y=y, z=0.25)


def test_a_second_call_skips_the_empty_warm_up_dispatches(tmp_path, monkeypatch):
    """The empty parallel call that compiles and the one that times a dispatch run once per
    kernel and argument types, not on every small call."""
    from blockloop.runtime.kinds import Generated

    calls: list[int] = []
    original = Generated.__call__

    def counting(self, function, values):
        if function == "_bl_chunk":
            calls.append(values["_bl_tiles"])
        return original(self, function, values)

    monkeypatch.setattr(Generated, "__call__", counting)
    kernel = checkpointed_loop(checkpoint_dir=tmp_path, interval=1e9)(k.scaled_sum)
    first = kernel(_data(), 3.0)
    assert calls[:2] == [0, 0]  # compiled, then timed
    calls.clear()
    assert kernel(_data(), 3.0) == first  # a recorded run: returns at once
    assert calls == []
    assert kernel(_data(2000), 3.0) != first  # another run with the same types
    assert calls and 0 not in calls
