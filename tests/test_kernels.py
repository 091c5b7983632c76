"""Every example kernel: blockloop equals plain numba, and the bits do not depend on threads."""

from __future__ import annotations

import json
import subprocess
import sys

import numba
import numpy as np
import pytest

from tests.conftest import ROOT, child_env
from tests.kernel_sizes import ITERATIVE, SEQUENTIAL, SIZES, load

EXACT = {"monte_carlo_pi", "mandelbrot_area"}  # integer counts inside
MAPS = {"features", "scatter"}  # their arrays are written element by element


@pytest.mark.parametrize("name", list(SIZES))
def test_matches_plain_numba(name, ckdir):
    kernel, args = load(name)
    blocked = kernel(*args)
    report = kernel.last_report
    threads = numba.get_num_threads()
    if name in ("histogram", "kmeans"):
        numba.set_num_threads(1)  # plain prange races on h[k] += w; compare with 1 thread
    _, plain_args = load(name)
    try:
        plain = kernel.original(*plain_args)
    finally:
        numba.set_num_threads(threads)
    assert report.complete and report.tiles == report.tiles_total > 1
    for mine, theirs in zip(_parts(blocked), _parts(plain), strict=True):
        if mine is None or theirs is None:
            assert mine is theirs
        elif (
            name in EXACT
            or name in SEQUENTIAL
            or name == "kmeans"
            or (name in MAPS and isinstance(mine, np.ndarray))
        ):
            assert np.array_equal(mine, theirs)  # counts, steps, labels, map outputs: exact
        elif name == "cg":  # ~100 steps of sums in another order: rounding accumulates
            np.testing.assert_allclose(mine, theirs, rtol=1e-8, atol=1e-8)
        else:
            np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=0)
    for mine, theirs in zip(args, plain_args, strict=True):  # arguments updated in place
        if name == "kmeans":  # centres: means of per-cluster sums, folded in another order
            np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)
        else:
            assert np.array_equal(mine, theirs)
    _, again_args = load(name)
    again = kernel(*again_args)  # recorded run: returns at once, same bits
    assert kernel.last_report.already_complete and kernel.last_report.tiles == 0
    for mine, theirs in zip(_parts(again), _parts(blocked), strict=True):
        assert np.array_equal(np.asarray(mine), np.asarray(theirs))
    for mine, theirs in zip(args, again_args, strict=True):
        assert np.array_equal(mine, theirs)


def _parts(result: object) -> list:
    """A kernel's result as a list of values (a tuple's items, or the one value)."""
    return list(result) if isinstance(result, tuple) else [result]


def _hashes(threads: int, root, *names: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "tests.kernel_sizes", *names],
        cwd=ROOT,
        env=child_env(NUMBA_NUM_THREADS=str(threads), BLOCKLOOP_DIR=str(root)),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_bits_do_not_depend_on_thread_count(tmp_path):
    one = _hashes(1, tmp_path / "t1")
    two = _hashes(2, tmp_path / "t2")
    assert set(one) == set(SIZES)
    assert one == two
    # convergence loops: residuals, iteration counts and answers, also on 3 threads
    three = _hashes(3, tmp_path / "t3", *ITERATIVE)
    assert three == {name: one[name] for name in ITERATIVE}


def test_histogram_is_exact_where_plain_numba_races(ckdir):
    """Integer-valued weights make every correct order give the same sums."""
    from kernels.histogram import histogram

    x = np.random.default_rng(1).standard_normal(2_000_000)
    w = np.ones_like(x)
    expected, _ = np.histogram(x, bins=8, range=(-4.0, 4.0))
    inside = (x >= -4.0) & (x < 4.0)
    assert expected.sum() == inside.sum()
    blocked = histogram(x, w, 8, -4.0, 4.0)
    assert np.array_equal(blocked, expected.astype(float))
