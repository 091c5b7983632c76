"""``exact=True``: float sums equal to ``math.fsum`` of the same terms, bit for bit, for any
tile size, thread count, chunking and interruption; float32 sums are the exact sum rounded
once to float32 (checked against ``fractions.Fraction``)."""

from __future__ import annotations

import inspect
import math
from fractions import Fraction

import numba
import numpy as np
import pytest
from numba import njit, prange

from blockloop import BlockingError, checkpointed_loop
from blockloop.runtime import reduction
from blockloop.storage.rundir import RunPaths
from blockloop.storage.store import read_manifest, verify_generation
from blockloop.testing import Crash, Ticks, crashing_store, injected


@njit(parallel=True, cache=True)
def total(x, s0):
    s = s0
    for i in prange(x.shape[0]):
        s += x[i]
    return s


@njit(parallel=True, cache=True)
def mixed(x, y):
    s = 0.0  # exact, by -=
    t = np.float32(0.0)  # exact, float32
    n = 0  # an integer: summed as without exact=True
    z = 0j  # complex: summed pairwise, as without exact=True
    for i in prange(x.shape[0]):
        s -= x[i]
        t += y[i]
        n += 1
        z += x[i] * 1j
    return s, t, n, z


@njit(parallel=True, cache=True)
def binned(u, w, rows, bins):
    """A histogram (``h[k] +=``), a 2-D one (``g[k, m] -=``) and a whole-row sum."""
    h = np.zeros(bins)
    g = np.zeros((bins, 2))
    r = np.zeros(rows.shape[1])
    for i in prange(u.shape[0]):
        k = int(u[i] * bins)
        h[k] += w[i]
        g[k, i % 2] -= w[i]
        r += rows[i]
    return h, g, r


@njit(parallel=True, cache=True)
def guarded(x):
    """A tile buffers ``v``'s terms, and ``s``'s in a buffer cleared to -0.0 before each
    block (the update may not run); ``t`` (two updates an iteration) it adds one by one."""
    s = t = v = 0.0
    for i in prange(x.shape[0]):
        v += x[i]
        if x[i] > 0:
            s += x[i]
        t += x[i]
        t -= 0.5 * x[i]
    return s, t, v


@njit(parallel=True, cache=True)
def skipping(x, s0):
    """A ``continue`` may skip the update: its buffer is cleared before each block."""
    s = s0
    for i in prange(x.shape[0]):
        if i % 3 == 0:
            continue
        s += x[i]
    return s


@njit(parallel=True, cache=True)
def nested(x, m):
    """An update in an inner loop runs several times an iteration: added one by one."""
    s = 0.0
    for i in prange(x.shape[0] // m):
        for j in range(m):
            s += x[i * m + j]
    return s


@njit(parallel=True, cache=True)
def stepped(x, start, stop, step):
    s = 0.0
    for i in prange(start, stop, step):
        if x[i] > 0:
            s -= x[i]
    return s


def sliced(x):
    h = np.zeros(4)
    for i in prange(x.shape[0]):
        h[0:2] += x[i]  # the refused line
    return h


@njit(parallel=True, cache=True)
def row_update(x):
    h = np.zeros((2, 3))
    for i in prange(x.shape[0]):
        h[i % 2] += x[i]  # a row at once: refused when the types are known
    return h


def _exact(fn, path, **options):
    return checkpointed_loop(checkpoint_dir=path, exact=True, **options)(fn)


def _spread(n: int, seed: int) -> np.ndarray:
    """``n`` terms of both signs spread over 600 binades."""
    rng = np.random.default_rng(seed)
    return rng.uniform(1.0, 2.0, n) * np.exp2(rng.integers(-300, 300, n)) * rng.choice([-1, 1], n)


CASES = {
    "cancellation": lambda: _place(100_000, {5: 1e308, 50_000: 1.0, 99_990: -1e308}),
    "binades": lambda: _spread(10**6, 1),
    "subnormals": lambda: np.random.default_rng(2).integers(-(2**20), 2**20, 50_000) * 5e-324,
    "subnormals and normals": lambda: np.concatenate(
        [np.random.default_rng(3).integers(-9, 9, 1000) * 5e-324, _spread(1000, 4) * 1e-280]
    ),
    "random": lambda: (
        np.random.default_rng(5).standard_normal(300_000)
        * 10.0 ** np.random.default_rng(6).uniform(-8, 8, 300_000)
    ),
    "cancelling pairs": lambda: np.concatenate([_spread(20_000, 7), -_spread(20_000, 7), [0.5]]),
    # the float sums of a scalar (``_fastsum.fast_add``): terms in its range, leaving it
    # slowly (a new scale when the sums are empty, limbs otherwise), above it (a new scale
    # at once), far below it while the sums are busy, zeros and specials among them
    "narrow": lambda: np.random.default_rng(13).uniform(2.0, 4.0, 300_000),
    "drifting down": lambda: _cancelled(_drift(200_000, -70.0, 14)),
    "drifting up": lambda: _cancelled(_drift(200_000, 70.0, 15)),
    "bursts": lambda: _cancelled(_bursts(100_000, 16)),
    "edges of the range": lambda: _edges(17),
}


def _edges(seed: int) -> np.ndarray:
    """Blocks of 1024 terms: 1.0 (it chooses the scale), then 1023 of one sign 2**k as
    large, k from -40 to 6, each a little above a multiple of 2**-39 (the scale's cut), so
    that the low parts too have one sign: the float sums come closest to losing a bit at
    the top of the range and at the bottom of it, and the terms just past them; and a
    long run at the top of the range."""
    rng = np.random.default_rng(seed)
    blocks = []
    for k in range(-40, 7):
        ulp = 2.0 ** (k - 52)
        above = np.floor(rng.uniform(0.9, 1.0, 1023) * 2.0**-40 / ulp) * ulp
        high = np.round(rng.uniform(1.0, 2.0, 1023) * 2.0 ** (k + 39)) * 2.0**-39
        blocks.append(np.concatenate([[1.0], high + above]))
    # 4095 terms near the top, odd multiples of 2**-39: with a count or a range several
    # times larger than the code's (its bounds keep a factor of 2-4 in hand), the high
    # float sum would pass 2**15, beyond which it cannot hold their high parts exactly
    top = (np.floor(rng.uniform(4.0, 8.0, 4095) * 2.0**38) * 2 + 1) * 2.0**-39
    return _cancelled(np.concatenate([[1.0], top, *blocks, *blocks]))  # top: a fresh scale


def _cancelled(x: np.ndarray) -> np.ndarray:
    """``x`` followed by floats whose sum is exactly minus the sum of ``x``: the exact
    total is 0, so an error anywhere in the sum, however small, shows in the result."""
    rest = sum(map(Fraction, x.tolist()), Fraction(0))
    tail = []
    while rest:
        tail.append(-float(rest))
        rest += Fraction(tail[-1])
    return np.concatenate([x, tail])


def _drift(n: int, binades: float, seed: int) -> np.ndarray:
    """Terms of both signs whose magnitude moves by ``binades`` over the ``n`` terms."""
    rng = np.random.default_rng(seed)
    return rng.uniform(1.0, 2.0, n) * np.exp2(np.arange(n) * binades / n) * rng.choice([-1, 1], n)


def _bursts(n: int, seed: int) -> np.ndarray:
    """Terms in [1, 2) with a term 2**-40 as large every 97th, 2**40 as large every 4999th,
    and a zero of either sign every 89th."""
    x = np.random.default_rng(seed).uniform(1.0, 2.0, n)
    x[::97] *= 2.0**-40
    x[::4999] *= 2.0**40
    x[::89] = 0.0
    x[1::178] = -0.0
    return x


def _place(n: int, values: dict[int, float]) -> np.ndarray:
    x = np.zeros(n)
    for i, v in values.items():
        x[i] = v
    return x


def _bits(v: float) -> int:
    return int(np.float64(v).view(np.int64))


@pytest.mark.parametrize("case", sorted(CASES))
def test_equals_fsum_bit_for_bit(case, tmp_path):
    x = CASES[case]()
    kernel = _exact(total, tmp_path)
    got = kernel(x, 0.0)
    assert _bits(got) == _bits(math.fsum(x)), (got, math.fsum(x))
    plain = total(x, 0.0)
    assert abs(got - math.fsum(x)) <= abs(plain - math.fsum(x))


@pytest.mark.parametrize(
    "case", ["narrow", "drifting down", "drifting up", "bursts", "edges of the range"]
)
def test_long_tiles_keep_their_float_sums_exact(case, tmp_path, monkeypatch):
    """Tiles of 2**16 terms: each scalar accumulator's float sums fill (``FAST_TERMS``),
    change scale and hand terms to the limbs many times inside one tile; the data's exact
    total is 0 where an error could hide in the rounding of a large one."""
    monkeypatch.setattr(reduction, "choose_tile", lambda count, elements: 1 << 16)
    x = CASES[case]()
    got = _exact(total, tmp_path)(x, 0.0)
    assert _bits(got) == _bits(math.fsum(x)), (got, math.fsum(x))


def test_conditional_and_repeated_updates(tmp_path, monkeypatch):
    monkeypatch.setattr(reduction, "choose_tile", lambda count, elements: 1000)
    x = np.concatenate([_spread(20_000, 9), CASES["narrow"]()[:20_000]])
    kernel = _exact(guarded, tmp_path)
    s, t, v = kernel(x)
    source = kernel.blocked_source
    assert "v = _bl_xput(v, _bl_xb_v, _bl_q, x[i])" in source
    assert "s = _bl_xput(s, _bl_xb_s, _bl_q, x[i])" in source
    assert "_bl_xb_s[:] = -0.0" in source and "_bl_xb_v[:]" not in source
    assert "t = _bl_xadd(t, x[i])" in source
    assert _bits(s) == _bits(math.fsum(x[x > 0]))
    assert _bits(t) == _bits(math.fsum(np.concatenate([x, -0.5 * x])))
    assert _bits(v) == _bits(math.fsum(x))
    skip = _exact(skipping, tmp_path)
    kept = np.arange(x.size) % 3 != 0
    assert _bits(skip(x, 0.0)) == _bits(math.fsum(x[kept]))
    assert "_bl_xb_s[:] = -0.0" in skip.blocked_source
    inner = _exact(nested, tmp_path)
    assert _bits(inner(x, 8)) == _bits(math.fsum(x))
    assert "s = _bl_xadd(s, x[i * m + j])" in inner.blocked_source


@pytest.mark.parametrize("bounds", [(3, 99_999, 7), (17, 100_000, 1)])
def test_buffered_terms_of_a_range_with_a_start_and_a_step(bounds, tmp_path):
    x = _spread(100_000, 18)
    start, stop, step = bounds
    got = _exact(stepped, tmp_path)(x, start, stop, step)
    y = x[start:stop:step]
    assert _bits(got) == _bits(0.0 - math.fsum(y[y > 0]))


def test_skipped_updates_keep_the_sign_of_zero(tmp_path):
    """Whole blocks of skipped iterations (-0.0 in the buffer) and of zeros: a sum of -0.0
    terms only is -0.0, one with a +0.0 term is +0.0 (IEEE)."""
    kernel = _exact(skipping, tmp_path)
    assert _bits(kernel(np.full(3000, -0.0), -0.0)) == _bits(-0.0)
    assert _bits(kernel(np.full(3000, -0.0), 0.0)) == _bits(0.0)
    plus = np.full(3000, -0.0)
    plus[2000] = 0.0
    assert _bits(kernel(plus, -0.0)) == _bits(0.0)
    assert _bits(kernel(np.ones(1), -0.0)) == _bits(-0.0)  # the only iteration skips
    mixed = np.concatenate([np.full(1500, -0.0), np.full(1500, 2.5), [0.0] * 1000])
    assert _bits(kernel(mixed, -0.0)) == _bits(math.fsum(mixed[np.arange(4000) % 3 != 0]))


@pytest.mark.parametrize("tile", [1, 3, 64, 4096])
def test_any_tile_size_gives_the_same_bits(tile, tmp_path, monkeypatch):
    monkeypatch.setattr(reduction, "choose_tile", lambda count, elements: tile)
    x = np.concatenate([CASES["cancellation"](), _spread(30_000, 8)])
    kernel = _exact(total, tmp_path)
    got = kernel(x, 0.0)
    assert kernel.last_report.tile_size == tile
    assert _bits(got) == _bits(math.fsum(x))


@pytest.mark.parametrize("threads", [1, 2])
def test_any_thread_count_gives_the_same_bits(threads, tmp_path):
    x = _spread(200_000, 9)
    u = np.random.default_rng(10).random(200_000)
    rows = _spread(600_000, 11).reshape(200_000, 3)
    numba.set_num_threads(threads)
    try:
        s = _exact(total, tmp_path / "s")(x, 0.0)
        h, g, r = _exact(binned, tmp_path / "h")(u, x, rows, 16)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert _bits(s) == _bits(math.fsum(x))
    k = (u * 16).astype(int)
    for b in range(16):
        assert _bits(h[b]) == _bits(math.fsum(x[k == b]))
        for m in range(2):
            sel = (k == b) & (np.arange(x.size) % 2 == m)
            assert _bits(g[b, m]) == _bits(0.0 - math.fsum(x[sel]))
    assert [_bits(v) for v in r] == [_bits(math.fsum(rows[:, m])) for m in range(3)]


def test_signed_zeros_and_the_initial_value():
    x = np.full(1000, -0.0)
    assert _bits(_exact(total, None)(x, -0.0)) == _bits(-0.0)
    assert _bits(_exact(total, None)(x, 0.0)) == _bits(0.0)
    y = np.array([1.0, -1.0])
    assert _bits(_exact(total, None)(y, -0.0)) == _bits(0.0)  # IEEE: x - x is +0.0
    z = _spread(10_000, 12)
    assert _bits(_exact(total, None)(z, 0.1)) == _bits(math.fsum([0.1, *z]))


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        ([1.0, math.inf, 2.0], math.inf),
        ([-math.inf, 1e308, 1e308], -math.inf),
        ([math.inf, -math.inf], math.nan),
        ([1.0, math.nan], math.nan),
        ([1.7e308] * 4, math.inf),  # a finite sum past the largest float: inf, as IEEE
        ([1.7e308] * 4 + [-1.7e308] * 3, 1.7e308),  # but not when it comes back
        ([-1.7e308] * 2, -math.inf),
    ],
)
def test_ieee_infinities_nans_and_overflow(terms, expected, tmp_path, monkeypatch):
    monkeypatch.setattr(reduction, "choose_tile", lambda count, elements: 1)  # one per tile
    x = np.array(terms)
    got = _exact(total, tmp_path)(x, 0.0)
    assert (math.isnan(got) and math.isnan(expected)) or _bits(got) == _bits(expected)


def _nearest_float32(exact: Fraction) -> np.float32:
    """The float32 nearest to ``exact`` (ties to an even mantissa)."""
    guess = np.float32(float(exact))
    near = [
        np.nextafter(guess, np.float32(-np.inf)),
        guess,
        np.nextafter(guess, np.float32(np.inf)),
    ]
    best = min(abs(Fraction(float(c)) - exact) for c in near)
    tied = [c for c in near if abs(Fraction(float(c)) - exact) == best]
    return min(tied, key=lambda c: int(c.view(np.int32)) & 1)


def test_float32_is_the_exact_sum_rounded_once_and_the_others_are_unchanged(tmp_path):
    rng = np.random.default_rng(13)
    y = (rng.standard_normal(100_001) * 10.0 ** rng.uniform(-6, 6, 100_001)).astype(np.float32)
    y[7], y[50_000] = np.float32(3e38), np.float32(-3e38)  # cancel, far apart
    x = _spread(100_001, 14)
    s, t, n, z = _exact(mixed, tmp_path / "exact")(x, y)
    assert _bits(s) == _bits(0.0 - math.fsum(x))
    expected = _nearest_float32(sum((Fraction(float(v)) for v in y), Fraction(0)))
    assert float(np.float32(t)) == t  # numba returns a float32 as a Python float
    assert np.float32(t).view(np.int32) == expected.view(np.int32)
    _, _, n2, z2 = checkpointed_loop(checkpoint_dir=tmp_path / "plain")(mixed)(x, y)
    assert n == n2 == x.size and z == z2  # integers and complex numbers: as without exact


def test_a_kill_and_resume_gives_the_same_bits_and_stores_integers(tmp_path):
    x = np.concatenate([CASES["cancellation"](), _spread(400_000, 15)])
    kernel = _exact(total, tmp_path, interval=1.0)
    # every chunk "takes" a second: a checkpoint after each
    with injected(kernel, clock=Ticks(1.0)):
        with injected(kernel, store=crashing_store(3)), pytest.raises(Crash):
            kernel(x, 0.0)
        paths = RunPaths(tmp_path, kernel.run_dir(x, 0.0).name)
        newest = paths.generations()[-1]
        saved = verify_generation(paths, newest)
        assert read_manifest(paths.manifest(newest))["identity"]["exact"] == ["s"]
        stacks = [a for a in saved.arrays.values() if a.ndim == 2]
        assert stacks and all(a.dtype == np.int64 for a in stacks)  # portable integers
        got = kernel(x, 0.0)
    assert kernel.last_report.resumed_from is not None
    assert _bits(got) == _bits(math.fsum(x))


def test_an_exact_run_is_another_run_and_the_environment_turns_it_on(tmp_path, monkeypatch):
    x = np.ones(10)
    exact = _exact(total, tmp_path)
    plain = checkpointed_loop(checkpoint_dir=tmp_path)(total)
    assert exact.run_dir(x, 0.0) != plain.run_dir(x, 0.0)
    assert "_bl_xput(s, _bl_xb_s, _bl_q, x[i])" in exact.blocked_source
    assert "_bl_xput" not in plain.blocked_source
    monkeypatch.setenv("BLOCKLOOP_EXACT", "1")
    assert checkpointed_loop(total).exact
    assert not checkpointed_loop(exact=False)(total).exact


def test_a_slice_update_is_refused_at_its_line():
    with pytest.raises(BlockingError) as info:
        checkpointed_loop(exact=True)(njit(parallel=True)(sliced))
    lines, first = inspect.getsourcelines(sliced)
    assert info.value.lineno == first + next(k for k, t in enumerate(lines) if "h[0:2]" in t)
    assert "one element at a time" in info.value.reason
    checkpointed_loop(njit(parallel=True)(sliced))  # without exact=True it is a reduction


def test_an_update_of_a_whole_row_is_refused_at_the_first_call(tmp_path):
    kernel = _exact(row_update, tmp_path)
    with pytest.raises(numba.core.errors.TypingError, match="one element at a time"):
        kernel(np.ones(10))
    assert (
        not any(tmp_path.iterdir())
        or not RunPaths(tmp_path, kernel.run_dir(np.ones(10)).name).generations()
    )
