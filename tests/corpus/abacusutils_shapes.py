"""Kernels in the shapes of abacusutils' numba mesh routines
(``abacusnbody/analysis/power_spectrum.py``, ``abacusnbody/analysis/tsc.py``).

Written for this corpus, not copied from abacusutils: each kernel follows the loop structure
of the named function (a ``prange`` over the first axis of a Fourier mesh with wrapped
frequencies, per-slab histograms of (k, mu) bins, a two-pass scatter over even then odd
stripes of particles) with its own names and simpler arithmetic.
"""

import math

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng

_MESH = 24


def _poles_args() -> tuple:
    k = np.linspace(0.0, 1.2, 40)
    pk = np.vstack([1.0 / (1.0 + 10.0 * k), 0.3 / (1.0 + 5.0 * k * k)])
    return k, pk, _MESH, 50.0, np.array([0, 2], dtype=np.int64)


def _bin_args() -> tuple:
    mesh = rng(1).random((_MESH, _MESH, _MESH // 2 + 1))
    edges = np.linspace(0.5, 10.0, 9)
    return _MESH, edges, 4, mesh


def _stripes(seed: int, count: int, box: float, cells: int, stripes: int) -> tuple:
    """Particles sorted into ``stripes`` slabs along x, with the slab starts."""
    g = rng(seed)
    pos = g.random((count, 3)) * box
    slab = np.minimum((pos[:, 0] / box * stripes).astype(np.int64), stripes - 1)
    order = np.argsort(slab, kind="stable")
    pos = pos[order]
    starts = np.searchsorted(slab[order], np.arange(stripes + 1)).astype(np.int64)
    return pos, starts, np.zeros((cells, cells, cells)), box


def _wrap_args() -> tuple:
    g = rng(3)
    pos = g.random((800, 3)) * 1.4 - 0.2
    return pos, 1.0, 6


@njit(cache=True)
def _interp_even(x, xs, ys):
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    f = (x - xs[0]) / (xs[1] - xs[0])
    lo = np.int64(f)
    return ys[lo] + (f - lo) * (ys[lo + 1] - ys[lo])


@njit(cache=True)
def _legendre(mu2, ell):
    if ell == 0:
        return 1.0
    if ell == 2:
        return 1.5 * mu2 - 0.5
    return (35.0 * mu2 * mu2 - 30.0 * mu2 + 3.0) / 8.0


@njit(cache=True)
def _wrap_index(i, n):
    if i >= n:
        return i - n
    if i < 0:
        return i + n
    return i


@njit(cache=True)
def _cic_stripe(pos, grid, box):
    n = grid.shape[0]
    scale = n / box
    for p in range(pos.shape[0]):
        x = pos[p, 0] * scale
        y = pos[p, 1] * scale
        z = pos[p, 2] * scale
        ix = np.int64(math.floor(x))
        iy = np.int64(math.floor(y))
        iz = np.int64(math.floor(z))
        fx = x - ix
        fy = y - iy
        fz = z - iz
        for a in range(2):
            wa = fx if a == 1 else 1.0 - fx
            ia = _wrap_index(ix + a, n)
            for b in range(2):
                wb = fy if b == 1 else 1.0 - fy
                ib = _wrap_index(iy + b, n)
                for c in range(2):
                    wc = fz if c == 1 else 1.0 - fz
                    grid[ia, ib, _wrap_index(iz + c, n)] += wa * wb * wc


@case(
    args=lambda: (_MESH, 100.0, 3.0),
    follows="abacusutils: abacusnbody/analysis/power_spectrum.py::get_smoothing",
)
@njit(parallel=True, cache=True)
def gaussian_window(n1d, box, radius):
    kz_len = n1d // 2 + 1
    window = np.zeros((n1d, n1d, kz_len))
    dk = 2.0 * math.pi / box
    scale = dk * dk * radius * radius
    for i in prange(n1d):
        i2 = i * i if i < n1d // 2 else (i - n1d) * (i - n1d)
        for j in range(n1d):
            j2 = j * j if j < n1d // 2 else (j - n1d) * (j - n1d)
            for k in range(kz_len):
                window[i, j, k] = math.exp(-0.5 * (i2 + j2 + k * k) * scale)
    return window


@case(
    args=_poles_args,
    follows="abacusutils: abacusnbody/analysis/power_spectrum.py::expand_poles_to_3d",
)
@njit(parallel=True, cache=True)
def poles_onto_mesh(k_tab, p_tab, n1d, box, ells):
    kz_len = n1d // 2 + 1
    mesh = np.zeros((n1d, n1d, kz_len))
    dk = 2.0 * math.pi / box
    for i in prange(n1d):
        i2 = i * i if i < n1d // 2 else (i - n1d) * (i - n1d)
        for j in range(n1d):
            j2 = j * j if j < n1d // 2 else (j - n1d) * (j - n1d)
            for k in range(kz_len):
                kmag2 = i2 + j2 + k * k
                if kmag2 > 0:
                    mu2 = k * k / kmag2
                else:
                    mu2 = 0.0
                kmag = math.sqrt(kmag2) * dk
                for e in range(ells.size):
                    mesh[i, j, k] += _interp_even(kmag, k_tab, p_tab[e]) * _legendre(mu2, ells[e])
    return mesh


@case(
    args=_bin_args,
    follows="abacusutils: abacusnbody/analysis/power_spectrum.py::bin_kmu",
)
@njit(parallel=True, cache=True)
def bin_k_mu(n1d, k_edges, n_mu, mesh):
    kz_len = n1d // 2 + 1
    n_k = k_edges.size - 1
    edges2 = k_edges * k_edges
    mu_edges2 = np.linspace(0.0, 1.0, n_mu + 1) ** 2
    counts = np.zeros((n1d, n_k, n_mu), dtype=np.int64)
    sums = np.zeros((n1d, n_k, n_mu))
    for i in prange(n1d):
        i2 = i * i if i < n1d // 2 else (i - n1d) * (i - n1d)
        for j in range(n1d):
            j2 = j * j if j < n1d // 2 else (j - n1d) * (j - n1d)
            bk = 0
            bmu = 0
            for k in range(kz_len):
                kmag2 = i2 + j2 + k * k
                if kmag2 > 0:
                    mu2 = k * k / kmag2
                else:
                    mu2 = 0.0
                if kmag2 < edges2[0]:
                    continue
                if kmag2 >= edges2[-1]:
                    break
                while kmag2 > edges2[bk + 1]:
                    bk += 1
                while mu2 > mu_edges2[bmu + 1]:
                    bmu += 1
                mult = 1 if k == 0 else 2
                counts[i, bk, bmu] += mult
                sums[i, bk, bmu] += mult * mesh[i, j, k]
    total_counts = counts.sum(axis=0)
    total_sums = sums.sum(axis=0)
    for a in range(n_k):
        for b in range(n_mu):
            if total_counts[a, b] != 0:
                total_sums[a, b] /= total_counts[a, b]
    return total_sums, total_counts


@case(
    args=lambda: _stripes(2, 1500, 1.0, 16, 4),
    follows="abacusutils: abacusnbody/analysis/tsc.py::_tsc_parallel",
    gap="hands `grid` on, and `_cic_stripe` reads it",
)
@njit(parallel=True, cache=True)
def deposit_by_stripes(pos, starts, grid, box):
    stripes = starts.size - 1
    for s in prange((stripes + 1) // 2):
        _cic_stripe(pos[starts[2 * s] : starts[2 * s + 1]], grid, box)
    if stripes > 1:
        for s in prange(stripes // 2):
            _cic_stripe(pos[starts[2 * s + 1] : starts[2 * s + 2]], grid, box)
    return grid


@case(
    args=_wrap_args,
    follows="abacusutils: abacusnbody/analysis/tsc.py::partition_parallel",
)
@njit(parallel=True, cache=True)
def wrap_and_key(pos, box, stripes):
    n = pos.shape[0]
    keys = np.empty(n, dtype=np.int64)
    inv_width = stripes / box
    for i in prange(n):
        for d in range(3):
            if pos[i, d] >= box:
                pos[i, d] -= box
            elif pos[i, d] < 0.0:
                pos[i, d] += box
    for i in prange(n):
        keys[i] = min(np.int64(pos[i, 0] * inv_width), stripes - 1)
    return keys
