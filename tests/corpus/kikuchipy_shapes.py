"""Kernels in the shapes of kikuchipy's numba EBSD routines
(``kikuchipy/signals/util/_master_pattern.py``).

Written for this corpus, not copied from kikuchipy: each kernel follows the loop structure of
the named function (a ``prange`` over projection centres with per-iteration detector
vectors and nested ``prange`` over detector pixels, clamped integer interpolation indices
returned as several arrays, a per-pixel choice between two master-pattern hemispheres with
bilinear interpolation in a helper) with its own names and simpler arithmetic.
"""

import math

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng

_NPX = 41


def _pc_args() -> tuple:
    g = rng(1)
    n = 6
    pcx = 0.45 + 0.1 * g.random(n)
    pcy = 0.45 + 0.1 * g.random(n)
    pcz = 0.5 + 0.1 * g.random(n)
    return pcx, pcy, pcz, 12, 14, 10.0, 0.0, 70.0


def _unit_vectors(seed: int, n: int) -> np.ndarray:
    v = rng(seed).normal(size=(n, 3))
    return v / np.sqrt((v * v).sum(axis=1))[:, None]


def _lambert_args() -> tuple:
    return _unit_vectors(2, 900), _NPX, _NPX, (_NPX - 1) / 2.0


def _pattern_args() -> tuple:
    g = rng(3)
    north = g.random((_NPX + 1, _NPX + 1))
    south = g.random((_NPX + 1, _NPX + 1))
    return _unit_vectors(4, 600), north, south, _NPX, (_NPX - 1) / 2.0


@njit(cache=True)
def _square_lambert(x, y, z):
    """Equal-area map of a unit vector to the square [-sqrt(pi/2), sqrt(pi/2)]^2."""
    lift = math.sqrt(2.0 * (1.0 - abs(z)))
    if abs(x) <= abs(y):
        if y == 0.0:
            return 0.0, 0.0
        a = math.copysign(1.0, y) * lift * math.sqrt(math.pi) / 2.0
        return a * 4.0 / math.pi * math.atan(x / y), a
    a = math.copysign(1.0, x) * lift * math.sqrt(math.pi) / 2.0
    return a, a * 4.0 / math.pi * math.atan(y / x)


@njit(cache=True)
def _bilinear(mp, i0, j0, i1, j1, di, dj):
    return (
        mp[i0, j0] * (1.0 - di) * (1.0 - dj)
        + mp[i1, j0] * di * (1.0 - dj)
        + mp[i0, j1] * (1.0 - di) * dj
        + mp[i1, j1] * di * dj
    )


@case(
    args=_pc_args,
    follows="kikuchipy: kikuchipy/signals/util/_master_pattern.py"
    "::_get_direction_cosines_for_multiple_pcs",
)
@njit(parallel=True, cache=True)
def detector_directions(pcx, pcy, pcz, nrows, ncols, tilt, azimuthal, sample_tilt):
    row_idx = np.arange(nrows).astype(np.float64)
    col_idx = np.arange(ncols).astype(np.float64)
    alpha = math.pi / 2.0 - math.radians(sample_tilt) + math.radians(tilt)
    ca = math.cos(alpha)
    sa = math.sin(alpha)
    cw = math.cos(math.radians(azimuthal))
    sw = math.sin(math.radians(azimuthal))
    x_shift = (1 - ncols) * 0.5
    y_shift = (1 - nrows) * 0.5
    n_pcs = pcx.size
    out = np.zeros((n_pcs, nrows, ncols, 3))
    for p in prange(n_pcs):
        xpc = ncols * (0.5 - pcx[p])
        ypc = nrows * (0.5 - pcy[p])
        zpc = nrows * pcz[p]
        det_x = xpc + x_shift + col_idx
        det_y = ypc - y_shift - row_idx
        ls = -sw * det_x + zpc * cw
        lc = cw * det_x + zpc * sw
        for r in prange(nrows):
            rr = nrows - r - 1
            for c in prange(ncols):
                out[p, r, c, 0] = det_y[rr] * ca + sa * ls[c]
                out[p, r, c, 1] = lc[c]
                out[p, r, c, 2] = -sa * det_y[rr] + ca * ls[c]
    norm = np.sqrt((out * out).sum(axis=-1))
    for p in range(n_pcs):
        for r in range(nrows):
            for c in range(ncols):
                out[p, r, c, :] /= norm[p, r, c]
    return out


@case(
    args=_lambert_args,
    follows="kikuchipy: kikuchipy/signals/util/_master_pattern.py"
    "::_get_lambert_interpolation_parameters",
)
@njit(parallel=True, cache=True)
def lambert_weights(v, npx, npy, scale):
    n = v.shape[0]
    to_pixels = scale / math.sqrt(math.pi / 2.0)
    ii = np.zeros(n, dtype=np.int32)
    jj = np.zeros(n, dtype=np.int32)
    ii1 = np.zeros(n, dtype=np.int32)
    jj1 = np.zeros(n, dtype=np.int32)
    di = np.zeros(n)
    dj = np.zeros(n)
    for m in prange(n):
        x, y = _square_lambert(v[m, 0], v[m, 1], v[m, 2])
        i_here = y * to_pixels
        j_here = x * to_pixels
        i0 = np.int32(i_here + scale)
        j0 = np.int32(j_here + scale)
        i1 = i0 + 1
        j1 = j0 + 1
        if i1 > npx:
            i1 = i0
        if j1 > npy:
            j1 = j0
        if i0 < 0:
            i0 = i1
        if j0 < 0:
            j0 = j1
        ii[m] = i0
        jj[m] = j0
        ii1[m] = i1
        jj1[m] = j1
        di[m] = i_here - i0 + scale
        dj[m] = j_here - j0 + scale
    return ii, jj, ii1, jj1, di, dj


@case(
    args=_pattern_args,
    follows="kikuchipy: kikuchipy/signals/util/_master_pattern.py"
    "::_project_single_pattern_from_master_pattern",
)
@njit(parallel=True, cache=True)
def sample_master_pattern(v, north, south, npx, scale):
    n = v.shape[0]
    to_pixels = scale / math.sqrt(math.pi / 2.0)
    pattern = np.zeros(n)
    for m in prange(n):
        x, y = _square_lambert(v[m, 0], v[m, 1], v[m, 2])
        fi = y * to_pixels + scale
        fj = x * to_pixels + scale
        i0 = min(max(int(fi), 0), npx - 1)
        j0 = min(max(int(fj), 0), npx - 1)
        if v[m, 2] >= 0.0:
            mp = north
        else:
            mp = south
        pattern[m] = _bilinear(mp, i0, j0, i0 + 1, j0 + 1, fi - i0, fj - j0)
    low = pattern.min()
    high = pattern.max()
    for m in range(n):
        pattern[m] = (pattern[m] - low) / (high - low)
    return pattern


@case(
    args=lambda: (0.52, 0.47, 0.6, 30, 36, 5.0, 2.0, 70.0),
    follows="kikuchipy: kikuchipy/signals/util/_master_pattern.py::_get_direction_cosines",
)
@njit(parallel=True, cache=True)
def detector_directions_one_pc(pcx, pcy, pcz, nrows, ncols, tilt, azimuthal, sample_tilt):
    xpc = ncols * (0.5 - pcx)
    ypc = nrows * (0.5 - pcy)
    zpc = nrows * pcz
    det_x = xpc + (1 - ncols) * 0.5 + np.arange(ncols).astype(np.float64)
    det_y = ypc - (1 - nrows) * 0.5 - np.arange(nrows).astype(np.float64)
    alpha = math.pi / 2.0 - math.radians(sample_tilt) + math.radians(tilt)
    ca = math.cos(alpha)
    sa = math.sin(alpha)
    cw = math.cos(math.radians(azimuthal))
    sw = math.sin(math.radians(azimuthal))
    ls = -sw * det_x + zpc * cw
    lc = cw * det_x + zpc * sw
    out = np.zeros((nrows, ncols, 3))
    length = 0.0
    for i in prange(nrows):
        ii = nrows - i - 1
        for j in prange(ncols):
            out[i, j, 0] = det_y[ii] * ca + sa * ls[j]
            out[i, j, 1] = lc[j]
            out[i, j, 2] = -sa * det_y[ii] + ca * ls[j]
    for i in prange(nrows):
        for j in range(ncols):
            length = math.sqrt(out[i, j, 0] ** 2 + out[i, j, 1] ** 2 + out[i, j, 2] ** 2)
            if length == 0.0:
                continue
            for d in range(3):
                out[i, j, d] /= length
    return out
