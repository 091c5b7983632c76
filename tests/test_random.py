"""blockloop.random: Philox4x32-10 against its published known answers; uniform, normal
and integer draws that depend on (key, counter) only, fit their distributions, and give a
checkpointed kernel the same bits for any thread count."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from numba import njit, prange

from blockloop import checkpointed_loop
from blockloop.random import integers, key, normal, philox4x32, uniform, uniform2

# Random123's kat_vectors for philox4x32-10: counter (4 words), key (2), output (4)
KAT = [
    "00000000 00000000 00000000 00000000 00000000 00000000 6627e8d5 e169c58d bc57ac4c 9b00dbd8",
    "ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff 408f276d 41c83b0e a20bc7c6 6d5451fd",
    "243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0 d16cfe09 94fdcceb 5001e420 24126ea1",
]


def _words(text: str) -> list[int]:
    return [int(w, 16) for w in text.split()]


@pytest.mark.parametrize("line", KAT)
def test_philox_known_answers(line):
    words = _words(line)
    got = philox4x32(*(np.uint64(w) for w in words[:6]))
    assert [int(w) for w in got] == words[6:]


@njit(parallel=True, cache=True)
def _draws(k, n):
    u = np.empty(n)
    z = np.empty(n)
    d = np.empty(n, dtype=np.int64)
    for i in prange(n):
        u[i] = uniform(k, i)
        z[i] = normal(k, i)
        d[i] = integers(k, i, -3, 4)
    return u, z, d


def _ks(sample: np.ndarray, cdf) -> float:
    """Kolmogorov-Smirnov statistic of ``sample`` against ``cdf``."""
    x = np.sort(sample)
    f = cdf(x)
    n = x.size
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


def test_distributions_fit_with_a_fixed_key():
    n = 10**6
    u, z, d = _draws(key(2024, 0), n)
    critical = 1.63 / math.sqrt(n)  # 1 % level; the key is fixed, so this cannot flake
    assert 0.0 <= u.min() and u.max() < 1.0
    assert _ks(u, lambda x: x) < critical
    phi = np.vectorize(lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0))))
    assert _ks(z, phi) < critical
    counts = np.bincount(d + 3, minlength=7)
    assert d.min() == -3 and d.max() == 3
    expected = n / 7
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 16.81  # chi-square, 6 degrees of freedom, 1 % level


def test_draws_depend_on_key_and_counter_only():
    k = key(7, 3)
    assert uniform(k, 12345) == uniform(k, 12345)
    assert uniform(k, 12345) != uniform(k, 12346)
    assert key(7, 3) != key(7, 4) and key(7, 3) != key(8, 3)
    u1, z1, d1 = _draws(k, 1000)
    u2, z2, d2 = _draws(k, 1000)
    assert np.array_equal(u1, u2) and np.array_equal(z1, z2) and np.array_equal(d1, d2)
    assert float(uniform(k, 5)) == u1[5]  # from Python and from a kernel alike


def test_uniform2_is_both_halves_of_one_block():
    k = key(2024, 5)
    words = philox4x32(
        np.uint64(77), np.uint64(0), np.uint64(0), np.uint64(0), k & 0xFFFFFFFF, k >> 32
    )
    w = [int(x) for x in words]
    first, second = uniform2(k, 77)
    assert first == uniform(k, 77) == ((w[0] << 32 | w[1]) >> 11) * 2.0**-53
    assert second == ((w[2] << 32 | w[3]) >> 11) * 2.0**-53


@njit(parallel=True, cache=True)
def _pairs(k, n):
    out = np.empty((n, 2))
    for i in prange(n):
        out[i, 0], out[i, 1] = uniform2(k, i)
    return out


def test_uniform2_pairs_are_uniform_and_uncorrelated():
    n = 10**6
    p = _pairs(key(99, 1), n)
    critical = 1.63 / math.sqrt(n)  # 1 % level; the key is fixed, so this cannot flake
    assert _ks(p[:, 0], lambda x: x) < critical and _ks(p[:, 1], lambda x: x) < critical
    assert abs(np.corrcoef(p[:, 0], p[:, 1])[0, 1]) < 4.0 / math.sqrt(n)


def test_integers_refuses_an_empty_range():
    with pytest.raises(ValueError, match="high must be greater than low"):
        integers(key(1, 1), 0, 5, 5)


@njit(parallel=True, cache=True)
def _option(n, seed, s0, strike, rate, sigma, years):
    k = key(seed, 0)
    payoff = 0.0
    for i in prange(n):
        z = normal(k, i)
        s = s0 * np.exp((rate - 0.5 * sigma * sigma) * years + sigma * np.sqrt(years) * z)
        payoff += max(s - strike, 0.0)
    return np.exp(-rate * years) * payoff / n


def test_a_checkpointed_monte_carlo_kernel_has_the_same_bits_for_any_thread_count(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path, interval=1e-6)(_option)
    args = (200_000, 11, 100.0, 105.0, 0.03, 0.2, 1.0)
    results = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            results.append(kernel(*args))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        kernel = checkpointed_loop(checkpoint_dir=tmp_path / f"t{threads}", interval=1e-6)(_option)
    assert results[0] == results[1]
    _, _, s0, strike, rate, sigma, years = args
    cdf = lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))  # noqa: E731
    d1 = (math.log(s0 / strike) + (rate + 0.5 * sigma**2) * years) / (sigma * math.sqrt(years))
    d2 = d1 - sigma * math.sqrt(years)
    exact = s0 * cdf(d1) - strike * math.exp(-rate * years) * cdf(d2)  # Black-Scholes
    assert abs(results[0] - exact) < 0.1  # a few standard errors of 200 000 draws
