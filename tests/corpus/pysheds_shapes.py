"""Kernels in the shapes of pysheds' numba flow-routing routines (``pysheds/_sgrid.py``).

Written for this corpus, not copied from pysheds: each kernel follows the loop structure of
the named function (nested ``prange`` over a DEM, 8-neighbour offset tables, flat indexing of
interior cells, several outputs returned as a tuple) with its own names and simpler
arithmetic.
"""

import math

import numpy as np
from numba import njit, prange

from tests.corpus import case, rng

_ROWS = 60
_COLS = 70


def _dem(seed: int, rows: int = _ROWS, cols: int = _COLS) -> np.ndarray:
    """A tilted plane with noise: most cells drain, a few are pits or flats."""
    g = rng(seed)
    y, x = np.mgrid[0:rows, 0:cols]
    return 0.05 * x + 0.03 * y + g.random((rows, cols))


def _edge_mask(rows: int = _ROWS, cols: int = _COLS, seed: int = 0) -> np.ndarray:
    """No-data cells: a few scattered ones."""
    return rng(seed).random((rows, cols)) < 0.03


def _interior(rows: int = _ROWS, cols: int = _COLS) -> np.ndarray:
    return np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)[1:-1, 1:-1].ravel()


def _pit_args() -> tuple:
    g = rng(3)
    dem = _dem(2)
    cells = g.choice(_interior(), size=120, replace=False).astype(np.int64)
    dem.flat[cells] -= 2.0
    return dem, cells


def _angle_args() -> tuple:
    g = rng(4)
    angles = g.random((_ROWS, _COLS)) * 2.0 * math.pi
    angles[g.random((_ROWS, _COLS)) < 0.02] = np.nan
    angles[g.random((_ROWS, _COLS)) < 0.02] = -1.0
    angles[0, :4] = 0.0
    angles[1, :4] = math.pi / 4.0
    return angles, _edge_mask(seed=5)


def _slope_args() -> tuple:
    g = rng(6)
    dem = _dem(7)
    n = dem.size
    start = np.arange(n, dtype=np.int64).reshape(dem.shape)
    step = g.integers(-1, 2, size=dem.shape)
    end = np.clip(start + step, 0, n - 1)
    dist = g.choice(np.array([0.0, 30.0, 42.4]), size=dem.shape)
    return start, end, dem, dist


def _flat_args() -> tuple:
    g = rng(8)
    dem = np.round(_dem(9) * 2.0) / 2.0
    defined = g.random(dem.shape) < 0.5
    labels = g.integers(1, 50, size=dem.shape)
    return _interior(), dem, defined, labels


def _route_args() -> tuple:
    g = rng(10)
    n = _ROWS * _COLS
    down = np.minimum(np.arange(n, dtype=np.int64) + g.integers(1, 4, size=n), n - 1)
    return down, np.ones(n)


@case(
    args=lambda: (_dem(1), 30.0, 30.0, _edge_mask()),
    follows="pysheds: pysheds/_sgrid.py::_d8_flowdir_numba",
)
@njit(parallel=True, cache=True)
def steepest_descent_codes(dem, dx, dy, nodata):
    rows, cols = dem.shape
    codes = np.full((rows, cols), -9, dtype=np.int64)
    diag = math.sqrt(dx * dx + dy * dy)
    drow = np.array([-1, -1, 0, 1, 1, 1, 0, -1])
    dcol = np.array([0, 1, 1, 1, 0, -1, -1, -1])
    length = np.array([dy, diag, dx, diag, dy, diag, dx, diag])
    esri = np.array([64, 128, 1, 2, 4, 8, 16, 32])
    for i in prange(1, rows - 1):
        for j in prange(1, cols - 1):
            if not nodata[i, j]:
                here = dem[i, j]
                best = -np.inf
                for k in range(8):
                    drop = (here - dem[i + drow[k], j + dcol[k]]) / length[k]
                    if drop > best:
                        codes[i, j] = esri[k]
                        best = drop
                if best == 0.0:
                    codes[i, j] = -1
                elif best < 0.0:
                    codes[i, j] = -2
    return codes


@case(args=_pit_args, follows="pysheds: pysheds/_sgrid.py::_fill_pits_numba")
@njit(parallel=True, cache=True)
def raise_single_pits(dem, pit_cells):
    count = pit_cells.size
    cols = dem.shape[1]
    raised = np.copy(dem)
    span = dem.max() - dem.min()
    around = np.array([-cols, 1 - cols, 1, 1 + cols, cols, cols - 1, -1, -1 - cols])
    for p in prange(count):
        cell = pit_cells[p]
        lift = span
        for q in prange(8):
            rise = dem.flat[cell + around[q]] - dem.flat[cell]
            lift = min(rise, lift)
        raised.flat[cell] += lift
    return raised


@case(
    args=lambda: (_dem(11), 30.0, 30.0, _edge_mask(seed=12), 1.1),
    follows="pysheds: pysheds/_sgrid.py::_mfd_flowdir_numba",
)
@njit(parallel=True, cache=True)
def downslope_shares(dem, dx, dy, nodata, power):
    rows, cols = dem.shape
    shares = np.zeros((8, rows, cols))
    drow = np.array([-1, -1, 0, 1, 1, 1, 0, -1])
    dcol = np.array([0, 1, 1, 1, 0, -1, -1, -1])
    diag = math.sqrt(dx * dx + dy * dy)
    length = np.array([dy, diag, dx, diag, dy, diag, dx, diag])
    for i in prange(1, rows - 1):
        for j in prange(1, cols - 1):
            if nodata[i, j]:
                shares[:, i, j] = -1.0
            else:
                here = dem[i, j]
                total = 0.0
                for k in range(8):
                    drop = here - dem[i + drow[k], j + dcol[k]]
                    if drop > 0.0:
                        weight = drop**power / length[k]
                        shares[k, i, j] = weight
                        total += weight
                if total > 0.0:
                    shares[:, i, j] /= total
    return shares


@case(args=_angle_args, follows="pysheds: pysheds/_sgrid.py::_angle_to_d8_numba")
@njit(parallel=True, cache=True)
def split_flow_angles(angles, nodata):
    n = angles.size
    wedge = math.pi / 4.0
    lower = np.array([1, 128, 64, 32, 16, 8, 4, 2])
    upper = np.array([128, 64, 32, 16, 8, 4, 2, 1])
    dir_a = np.zeros(angles.shape, dtype=np.int64)
    dir_b = np.zeros(angles.shape, dtype=np.int64)
    part_a = np.zeros(angles.shape)
    part_b = np.zeros(angles.shape)
    sector = 8
    share_a = 0.0
    share_b = 0.0
    for k in prange(n):
        angle = angles.flat[k]
        if np.isnan(angle) or nodata.flat[k]:
            sector = 8
            share_a = 0.0
            share_b = 0.0
            code_a = 0
            code_b = 0
        elif angle < 0.0 or angle >= 2.0 * math.pi:
            sector = 8
            share_a = 0.0
            share_b = 0.0
            code_a = 0
            code_b = 0
        else:
            sector = int(angle // wedge)
            share_b = (angle % wedge) / wedge
            share_a = 1.0 - share_b
            code_a = lower[sector]
            code_b = upper[sector]
        if share_a == 0.0:
            code_a = code_b
            share_a = 0.5
            share_b = 0.5
        elif share_b == 0.0:
            code_b = code_a
            share_a = 0.5
            share_b = 0.5
        dir_a.flat[k] = code_a
        dir_b.flat[k] = code_b
        part_a.flat[k] = share_a
        part_b.flat[k] = share_b
    return dir_a, dir_b, part_a, part_b


@case(args=_slope_args, follows="pysheds: pysheds/_sgrid.py::_cell_slopes_numba")
@njit(parallel=True, cache=True)
def cell_slopes(start, end, dem, dist):
    n = start.size
    drop = np.zeros(dem.shape)
    slope = np.zeros(dem.shape)
    for k in prange(n):
        drop.flat[k] = dem.flat[start.flat[k]] - dem.flat[end.flat[k]]
    for k in prange(n):
        run = dist.flat[k]
        if run == 0.0:
            slope.flat[k] = 0.0
        else:
            slope.flat[k] = drop.flat[k] / run
    return slope


@case(
    args=_flat_args,
    follows="pysheds: pysheds/_sgrid.py::_par_get_low_edge_cells_numba",
    expect="unseen",
)
@njit(parallel=True, cache=True)
def label_low_edges(inside, dem, defined, labels):
    n = inside.size
    cols = dem.shape[1]
    low = np.zeros(dem.shape, dtype=np.int64)
    around = np.array([-cols, 1 - cols, 1, 1 + cols, cols, cols - 1, -1, -1 - cols])
    for p in prange(n):
        cell = inside[p]
        if defined.flat[cell]:
            continue
        for q in range(8):
            nb = cell + around[q]
            if dem.flat[cell] == dem.flat[nb] and defined.flat[nb]:
                low.flat[nb] = labels.flat[cell]
    return low


@case(
    args=_route_args,
    follows="pysheds: pysheds/_sgrid.py::_d8_accumulation_iter_numba",
    expect="race",
    why="may read what another writes",
)
@njit(parallel=True, cache=True)
def pass_downstream(down, acc):
    n = down.size
    for _sweep in range(4):
        for i in prange(n - 1):
            acc[down[i]] = acc[i] + 1.0
    return acc
