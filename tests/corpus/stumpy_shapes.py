"""Kernels in the shapes of stumpy's prange kernels (matrix profiles of time series).

Written for this corpus, not copied: each kernel follows the loop structure of the stumpy
function its ``follows`` names (per-chunk copies of the profile merged after the loop, sliding
windows, a prange sweep inside a loop over dimensions), with its own names and arithmetic.
"""

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng


def _walk(seed, n):
    """A random walk: no two windows of it are exactly constant."""
    return np.cumsum(rng(seed).standard_normal(n))


def _walk_with_gaps(seed, n):
    t = _walk(seed, n)
    g = rng(seed + 100)
    t[g.integers(0, n, 12)] = np.nan
    return t


def _walk_with_plateaus(seed, n):
    t = np.round(_walk(seed, n), 0)
    t[100:140] = 3.0
    t[300:305] = np.nan
    return t


@njit(cache=True)
def _window_stats(t, m, mu, sig):
    """Mean and standard deviation of every length-``m`` window of ``t``."""
    for i in range(t.shape[0] - m + 1):
        seg = t[i : i + m]
        mu[i] = seg.mean()
        sig[i] = seg.std()


@njit(cache=True)
def _diagonals_of_chunk(t, m, mu, sig, diags, first, last, c, rho, nn):
    """Walk the diagonals ``diags[first:last]`` of the self-join distance matrix, keeping for
    every window the best Pearson correlation seen (in chunk ``c``'s own row of ``rho``)."""
    n_win = t.shape[0] - m + 1
    qt = 0.0
    for q in range(first, last):
        g = diags[q]
        for i in range(n_win - g):
            j = i + g
            if i == 0:
                qt = 0.0
                for s in range(m):
                    qt += t[s] * t[j + s]
            else:
                qt = qt - t[i - 1] * t[j - 1] + t[i + m - 1] * t[j + m - 1]
            r = (qt / m - mu[i] * mu[j]) / (sig[i] * sig[j])
            r = min(r, 1.0)
            if r > rho[c, i]:
                rho[c, i] = r
                nn[c, i] = j
            if r > rho[c, j]:
                rho[c, j] = r
                nn[c, j] = i


@case(
    args=lambda: (_walk(11, 700), 16, 4),
    follows="stumpy: stumpy/stump.py::_stump",
)
@njit(parallel=True, cache=True)
def chunked_diagonal_profile(t, m, n_chunks):
    n_win = t.shape[0] - m + 1
    excl = m // 4 + 1
    mu = np.empty(n_win)
    sig = np.empty(n_win)
    _window_stats(t, m, mu, sig)
    diags = np.arange(excl, n_win)
    n_diags = diags.shape[0]
    rho = np.full((n_chunks, n_win), -np.inf)
    nn = np.full((n_chunks, n_win), -1, dtype=np.int64)

    for c in prange(n_chunks):
        first = c * n_diags // n_chunks
        last = (c + 1) * n_diags // n_chunks
        _diagonals_of_chunk(t, m, mu, sig, diags, first, last, c, rho, nn)

    for c in range(1, n_chunks):
        better = rho[0] < rho[c]
        rho[0][better] = rho[c][better]
        nn[0][better] = nn[c][better]

    profile = np.empty(n_win)
    d = 0.0
    for i in prange(n_win):
        d = 2.0 * m * (1.0 - rho[0, i])
        if d < 1e-12:
            d = 0.0
        profile[i] = np.sqrt(d)
    return profile, nn[0]


@case(
    args=lambda: (_walk_with_gaps(12, 900), 30),
    follows="stumpy: stumpy/core.py::_rolling_nanstd_1d",
)
@njit(parallel=True, cache=True)
def window_nanstd(t, m):
    n_win = t.shape[0] - m + 1
    sd = np.empty(n_win, dtype=np.float64)
    for k in prange(n_win):
        seg = t[k : k + m]
        ok = ~np.isnan(seg)
        if ok.sum() == 0:
            sd[k] = np.nan
            continue
        vals = seg[ok]
        centre = vals.mean()
        sd[k] = np.sqrt(((vals - centre) ** 2).mean())
    return sd


@case(
    args=lambda: (_walk_with_plateaus(13, 800), 12),
    follows="stumpy: stumpy/core.py::_rolling_isconstant",
)
@njit(parallel=True, cache=True)
def window_is_flat(t, m):
    n_win = t.shape[0] - m + 1
    spread = np.empty(n_win)
    for k in prange(n_win):
        seg = t[k : k + m]
        if np.isnan(seg).any():
            spread[k] = np.nan
        else:
            spread[k] = seg.max() - seg.min()
    return spread == 0.0


@njit(cache=True)
def _insert_sorted(vals, ids, v, who):
    """Put ``v`` (with index ``who``) into the ascending ``vals``, dropping the last entry."""
    k = vals.shape[0]
    pos = np.searchsorted(vals, v, side="right")
    if pos >= k:
        return
    for q in range(k - 1, pos, -1):
        vals[q] = vals[q - 1]
        ids[q] = ids[q - 1]
    vals[pos] = v
    ids[pos] = who


@njit(cache=True)
def _holds(ids, who):
    for q in range(ids.shape[0]):
        if ids[q] == who:
            return True
    return False


@njit(cache=True)
def _znorm_sq_dist(t, m, mu, sig, i, j):
    dot = 0.0
    for s in range(m):
        dot += t[i + s] * t[j + s]
    r = (dot / m - mu[i] * mu[j]) / (sig[i] * sig[j])
    return max(2.0 * m * (1.0 - r), 0.0)


@case(
    args=lambda: (_walk(14, 400), 10, 3, rng(15).permutation(391)[:60], 3),
    follows="stumpy: stumpy/scrump.py::_prescrump",
)
@njit(parallel=True, cache=True)
def sampled_topk_profile(t, m, k, picks, n_chunks):
    n_win = t.shape[0] - m + 1
    excl = m // 2
    mu = np.empty(n_win)
    sig = np.empty(n_win)
    _window_stats(t, m, mu, sig)
    best = np.full((n_chunks, n_win, k), np.inf)
    who = np.full((n_chunks, n_win, k), -1, dtype=np.int64)
    n_picks = picks.shape[0]

    for c in prange(n_chunks):
        lo = c * n_picks // n_chunks
        hi = (c + 1) * n_picks // n_chunks
        for q in range(lo, hi):
            i = picks[q]
            for j in range(n_win):
                if abs(i - j) <= excl:
                    continue
                d2 = _znorm_sq_dist(t, m, mu, sig, i, j)
                if d2 < best[c, i, k - 1] and not _holds(who[c, i], j):
                    _insert_sorted(best[c, i], who[c, i], d2, j)
                if d2 < best[c, j, k - 1] and not _holds(who[c, j], i):
                    _insert_sorted(best[c, j], who[c, j], d2, i)

    for c in range(1, n_chunks):
        for i in range(n_win):
            for q in range(k):
                if best[c, i, q] < best[0, i, k - 1] and not _holds(who[0, i], who[c, i, q]):
                    _insert_sorted(best[0, i], who[0, i], best[c, i, q], who[c, i, q])

    return np.sqrt(best[0]), who[0]


def _qt_sweep_args():
    g = rng(16)
    d, n, m, idx = 3, 260, 20, 7
    t = np.cumsum(g.standard_normal((d, n)), axis=1)
    n_win = n - m + 1
    windows = np.lib.stride_tricks.sliding_window_view(t, m, axis=1)
    mu = windows.mean(axis=2)
    sig = windows.std(axis=2)
    qt_first = np.einsum("dm,dlm->dl", t[:, :m], windows)
    qt_prev = np.einsum("dm,dlm->dl", t[:, idx - 1 : idx - 1 + m], windows)
    qt_even = np.zeros((d, n_win))
    qt_odd = np.zeros((d, n_win))
    if idx % 2 == 0:
        qt_odd[:] = qt_prev
    else:
        qt_even[:] = qt_prev
    return t, m, idx, qt_even, qt_odd, qt_first, mu, sig, np.zeros((d, n_win))


@njit(cache=True)
def _sq_profile(m, qt, mu_q, sig_q, mu, sig):
    out = np.empty(qt.shape[0])
    for j in range(qt.shape[0]):
        r = (qt[j] / m - mu_q * mu[j]) / (sig_q * sig[j])
        out[j] = max(2.0 * m * (1.0 - r), 0.0)
    return out


@case(
    args=_qt_sweep_args,
    follows="stumpy: stumpy/mstump.py::_compute_multi_D",
    gap="may read what another writes",
)
@njit(parallel=True, cache=True)
def multi_dim_qt_sweep(t, m, idx, qt_even, qt_odd, qt_first, mu, sig, dist):
    d = t.shape[0]
    n_win = t.shape[1] - m + 1
    for i in range(d):
        for back in prange(1, n_win):
            j = n_win - back
            drop = t[i, idx - 1] * t[i, j - 1]
            add = t[i, idx + m - 1] * t[i, j + m - 1]
            if idx % 2 == 0:
                qt_even[i, j] = qt_odd[i, j - 1] - drop + add
            else:
                qt_odd[i, j] = qt_even[i, j - 1] - drop + add
        if idx % 2 == 0:
            qt_even[i, 0] = qt_first[i, idx]
            dist[i] = _sq_profile(m, qt_even[i], mu[i, idx], sig[i, idx], mu[i], sig[i])
        else:
            qt_odd[i, 0] = qt_first[i, idx]
            dist[i] = _sq_profile(m, qt_odd[i], mu[i, idx], sig[i, idx], mu[i], sig[i])
    lo = max(0, idx - m // 4)
    hi = min(n_win, idx + m // 4 + 1)
    dist[:, lo:hi] = np.inf
    return dist


def _sliding_qt_args():
    t = _walk(17, 300)
    m = 16
    windows = np.lib.stride_tricks.sliding_window_view(t, m)
    qt = windows @ t[:m]
    return t, m, 16, qt.copy(), qt, np.zeros(16, dtype=np.int64)


@case(
    args=_sliding_qt_args,
    follows="stumpy: stumpy/stomp.py::_stomp",
    expect="race",
    why="an iteration may read what another writes",
)
@njit(parallel=True, cache=True)
def sliding_qt_in_place(t, m, steps, qt, qt_first, nearest):
    n_win = t.shape[0] - m + 1
    for i in range(1, steps):
        # one buffer instead of stumpy's even/odd pair: iteration `back` reads qt[j - 1],
        # which iteration `back + 1` overwrites
        for back in prange(1, n_win):
            j = n_win - back
            qt[j] = qt[j - 1] - t[i - 1] * t[j - 1] + t[i + m - 1] * t[j + m - 1]
        qt[0] = qt_first[i]
        nearest[i] = np.argmax(qt)
    return nearest
