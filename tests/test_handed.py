"""Functions handed in as arguments, closures from factories, ``is None`` guards, and
names that are not ASCII."""

from __future__ import annotations

import ast
import textwrap
import warnings

import numpy as np
import pytest
from numba import NumbaExperimentalFeatureWarning

from blockloop import BlockingError, checkpointed_loop
from blockloop.transform.branches import branches
from tests import handed_kernels as hk
from tests.helpers import bits, crashed_then_resumed


def _inputs(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    return g.random((3000, 4)), g.random((40, 4))


def test_a_function_handed_in_is_analysed_as_the_helper_it_is(tmp_path):
    x, y = _inputs()
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(hk.pairwise_with)
    assert "provisional" in kernel.blocked_source  # at decoration: not known yet
    with warnings.catch_warnings():  # the generated code passes the function on: no
        warnings.simplefilter("error", NumbaExperimentalFeatureWarning)  # warning of its own
        got = kernel(x, y, hk.sq_euclidean)
    assert bits(got) == bits(hk.pairwise_with(x, y, hk.sq_euclidean))
    crashed_then_resumed(hk.pairwise_with, lambda: (*_inputs(), hk.sq_euclidean), tmp_path / "k")


def test_a_handed_function_that_draws_is_refused_at_the_call(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(hk.walks)  # not refused yet
    starts = np.arange(200, dtype=np.int64)
    with pytest.raises(BlockingError, match=r"step -> numpy\.random\.random"):
        kernel(starts, 8, 200, hk.next_node)
    x, y = _inputs()
    pairs = checkpointed_loop(checkpoint_dir=tmp_path / "p")(hk.pairwise_with)
    with pytest.raises(BlockingError, match=r"dist -> numpy\.random\.random"):
        pairs(x, y, hk.drawn_offset)  # the same kernel, given a function that draws
    assert bits(pairs(x, y, hk.sq_euclidean)) == bits(hk.pairwise_with(x, y, hk.sq_euclidean))


def test_an_is_none_guard_is_taken_as_the_argument_decides(tmp_path):
    g = np.random.default_rng(5)
    x, w = g.random(20_000), g.random(5)
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(hk.weighted_sums)
    got = kernel(x, w, np.zeros_like(x))
    assert bits(got) == bits(hk.weighted_sums(x, w, np.zeros_like(x)))
    assert "takes the branch where not (progress is not None)" in kernel.blocked_source
    crashed_then_resumed(hk.weighted_sums, lambda: (x, w, np.zeros_like(x)), tmp_path / "k")


def test_a_closure_over_an_array_is_read_frozen_and_part_of_the_run(tmp_path):
    u = np.random.default_rng(7).random(30_000)
    narrow, wide = hk.make_smoother([0.25, 0.5, 0.25]), hk.make_smoother([0.2, 0.6, 0.2])
    for smooth in (narrow, wide):
        kernel = checkpointed_loop(checkpoint_dir=tmp_path)(smooth)
        assert bits(kernel(u, np.zeros_like(u))) == bits(smooth(u, np.zeros_like(u)))
    keys = {
        checkpointed_loop(checkpoint_dir=tmp_path)(s).run_key(u, np.zeros_like(u))
        for s in (narrow, wide)
    }
    assert len(keys) == 2  # other taps: another run, never the other's checkpoint


def test_arrays_with_names_that_are_not_ascii_are_checkpointed(tmp_path):
    u = np.random.default_rng(11).random(40_000)
    crashed_then_resumed(hk.gradient_φ, lambda: (u.copy(), np.zeros_like(u)), tmp_path)


def test_a_negated_none_flag_is_decided_by_the_argument_too():
    src = textwrap.dedent(
        """
        def k(x, out, progress=None):
            quiet = progress is None
            for i in prange(x.shape[0]):
                out[i] = x[i]
                if not quiet:
                    progress.update(1)
        """
    )
    fn = ast.parse(src).body[0]
    (found,) = branches(fn, ("x", "out", "progress"), frozenset({"prange"}))
    (test,) = found.tests
    code = compile(ast.Expression(test), "kernel.py", "eval")
    assert eval(code, {"progress": None}) is False  # the branch that updates is not taken
    assert eval(code, {"progress": object()}) is True
