"""Kernels in the shapes of swiftsimio's numba visualisation routines
(``swiftsimio/visualisation/...``: slice, volume-render, ray-trace and power-spectrum backends).

Written for this corpus, not copied from swiftsimio: each kernel follows the loop structure of
the named function (a ``prange`` over fixed chunks of particles, each chunk smoothed onto its
own image by a serial ``@njit`` helper and summed into the output with a whole-array ``+=``)
with its own names, a simpler smoothing kernel and no periodic copies.
"""

import math

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng


def _particles(seed: int, n: int) -> tuple:
    g = rng(seed)
    x = g.random(n)
    y = g.random(n)
    z = g.random(n)
    m = 0.5 + g.random(n)
    h = 0.01 + 0.04 * g.random(n)
    return x, y, z, m, h


@njit(cache=True)
def _bump(r, width):
    """A compact, smooth weight: (1 - (r/width)^2)^2 inside ``width``, else 0."""
    q = r / width
    if q >= 1.0:
        return 0.0
    s = 1.0 - q * q
    return s * s / (width * width * width)


@njit(cache=True)
def _slice_chunk(x, y, z, m, h, z_cut, res):
    image = np.zeros((res, res))
    last = res - 1
    pixel = 1.0 / res
    for p in range(x.size):
        cx = math.floor(res * x[p])
        cy = math.floor(res * y[p])
        dz2 = (z[p] - z_cut) ** 2
        width = 2.0 * h[p]
        span = int(1.0 + width * res)
        if dz2 > width * width or cx + span < 0 or cx - span > last:
            continue
        for i in range(max(0, cx - span), min(cx + span + 1, last + 1)):
            dx2 = ((i + 0.5) * pixel - x[p]) ** 2
            for j in range(max(0, cy - span), min(cy + span + 1, last + 1)):
                dy2 = ((j + 0.5) * pixel - y[p]) ** 2
                image[i, j] += m[p] * _bump(math.sqrt(dx2 + dy2 + dz2), width)
    return image


@njit(cache=True)
def _fold_deposit(x, y, z, m, res, fold):
    grid = np.zeros((res, res, res))
    cell = 1.0 / fold
    for p in range(x.size):
        ix = int((x[p] % cell) * fold * res)
        iy = int((y[p] % cell) * fold * res)
        iz = int((z[p] % cell) * fold * res)
        grid[ix, iy, iz] += m[p] * res * res * res
    return grid


@njit(cache=True)
def _panel_chunk(x, y, z, m, h, res, panels):
    out = np.zeros((res, res, panels))
    last = res - 1
    pixel = 1.0 / res
    for p in range(x.size):
        panel = int(z[p] * panels)
        if panel < 0 or panel >= panels:
            continue
        cx = int(res * x[p])
        cy = int(res * y[p])
        width = 2.0 * h[p]
        span = int(1.0 + width * res)
        if span <= 1:
            out[cx, cy, panel] += m[p] * res * res
            continue
        norm = 0.0
        for i in range(cx - span, cx + span + 1):
            for j in range(cy - span, cy + span + 1):
                r = math.hypot((i + 0.5) * pixel - x[p], (j + 0.5) * pixel - y[p])
                norm += _bump(r, width)
        if norm == 0.0:
            continue
        scale = m[p] * res * res / norm
        for i in range(max(0, cx - span), min(cx + span + 1, last + 1)):
            for j in range(max(0, cy - span), min(cy + span + 1, last + 1)):
                r = math.hypot((i + 0.5) * pixel - x[p], (j + 0.5) * pixel - y[p])
                out[i, j, panel] += _bump(r, width) * scale
    return out


@njit(cache=True)
def _voxel_chunk(x, y, z, m, h, res):
    cube = np.zeros((res, res, res))
    last = res - 1
    pixel = 1.0 / res
    for p in range(x.size):
        cx = math.floor(res * x[p])
        cy = math.floor(res * y[p])
        cz = math.floor(res * z[p])
        width = 2.0 * h[p]
        if width < 0.5 * pixel:
            cube[cx, cy, cz] += m[p] * res * res * res
            continue
        span = int(1.0 + width * res)
        for i in range(max(0, cx - span), min(cx + span + 1, last + 1)):
            dx = (i + 0.5) * pixel - x[p]
            for j in range(max(0, cy - span), min(cy + span + 1, last + 1)):
                dy = (j + 0.5) * pixel - y[p]
                for k in range(max(0, cz - span), min(cz + span + 1, last + 1)):
                    dz = (k + 0.5) * pixel - z[p]
                    r = math.sqrt(dx * dx + dy * dy + dz * dz)
                    cube[i, j, k] += m[p] * _bump(r, width)
    return cube


@case(
    args=lambda: (*_particles(1, 600), 0.5, 48, 4),
    follows="swiftsimio: swiftsimio/visualisation/slice_backends/sph.py::slice_scatter_parallel",
    exact=False,
)
@njit(parallel=True, cache=True)
def slice_image(x, y, z, m, h, z_cut, res, n_chunks):
    n = x.size
    per_chunk = n // n_chunks
    image = np.zeros((res, res))
    for c in prange(n_chunks):
        lo = c * per_chunk
        hi = n if c == n_chunks - 1 else (c + 1) * per_chunk
        image += _slice_chunk(x[lo:hi], y[lo:hi], z[lo:hi], m[lo:hi], h[lo:hi], z_cut, res)
    return image


@case(
    args=lambda: (*_particles(2, 2000)[:4], 16, 2.0, 4),
    follows="swiftsimio: swiftsimio/visualisation/power_spectrum.py::deposit_parallel",
    exact=False,
)
@njit(parallel=True, cache=True)
def folded_deposit(x, y, z, m, res, fold, n_chunks):
    n = x.size
    per_chunk = n // n_chunks
    grid = np.zeros((res, res, res))
    total = 0.0
    for c in prange(n_chunks):
        lo = c * per_chunk
        hi = (c + 1) * per_chunk
        if c == n_chunks - 1:
            hi = n
        grid += _fold_deposit(x[lo:hi], y[lo:hi], z[lo:hi], m[lo:hi], res, fold)
        total += np.sum(m[lo:hi])
    return grid, total


@case(
    args=lambda: (*_particles(3, 500), 32, 4, 4),
    follows="swiftsimio: swiftsimio/visualisation/ray_trace_backends/core_panels.py"
    "::core_panels_parallel",
    exact=False,
)
@njit(parallel=True, cache=True)
def panel_images(x, y, z, m, h, res, panels, n_chunks):
    n = x.size
    per_chunk = n // n_chunks
    out = np.zeros((res, res, panels))
    for c in prange(n_chunks):
        lo = c * per_chunk
        hi = n if c == n_chunks - 1 else (c + 1) * per_chunk
        out += _panel_chunk(x[lo:hi], y[lo:hi], z[lo:hi], m[lo:hi], h[lo:hi], res, panels)
    return out


@case(
    args=lambda: (*_particles(4, 300), 20, 3),
    follows="swiftsimio: swiftsimio/visualisation/volume_render_backends/scatter.py"
    "::scatter_parallel",
    exact=False,
)
@njit(parallel=True, cache=True)
def voxel_render(x, y, z, m, h, res, n_chunks):
    n = x.size
    per_chunk = n // n_chunks
    cube = np.zeros((res, res, res))
    for c in prange(n_chunks):
        lo = c * per_chunk
        hi = n if c == n_chunks - 1 else (c + 1) * per_chunk
        cube += _voxel_chunk(x[lo:hi], y[lo:hi], z[lo:hi], m[lo:hi], h[lo:hi], res)
    return cube
