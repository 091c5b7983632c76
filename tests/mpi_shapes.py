"""Kernels of each loop shape, run under ``mpiexec`` by ``tests/test_mpi_shapes.py``.

``python -m tests.mpi_shapes SHAPE[,SHAPE...] N[,N...] ROOT [--plain]`` runs each kernel on
its arguments for size ``N`` in turn (one launch: MPI and numba start once), with checkpoints
under ``ROOT``, and each rank writes ``ROOT/out-SHAPE-RANK.json``
(ranks print over each other): the hash of the result and of every argument array
(arrays written in place), and the call's report. ``--plain`` runs the plain numba
kernel (the reference bits); ``--gather=root`` or ``--gather=own`` decorates it with that
option; ``--max-pieces=N`` lowers :data:`~blockloop.runtime.saved.MAX_PIECES`. An
interrupted run writes ``{"exit": 85}`` and exits with that code. Every kernel
is written here, in a shape found in real code.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from numba import njit, prange

from blockloop import Interrupted, checkpointed_loop
from blockloop.runtime import saved
from blockloop.tools.selftest import describe
from kernels.kmeans import kmeans
from kernels.kmeans import make_args as kmeans_args


# the shape of pynndescent's / umap's pairwise distance rows: each iteration fills the row
# of distances from one point to every point of a second set
@checkpointed_loop
@njit(parallel=True, cache=True)
def distances(x, y):
    out = np.empty((x.shape[0], y.shape[0]))
    for i in prange(x.shape[0]):
        for j in range(y.shape[0]):
            d = 0.0
            for k in range(x.shape[1]):
                t = x[i, k] - y[j, k]
                d += t * t
            out[i, j] = np.sqrt(d)
    return out


# the shape of tslearn's per-series z-normalisation, in place into the argument, with a
# robust (Huber) location as astropy's sigma clipping iterates one: each iteration
# rescales its own row
@checkpointed_loop
@njit(parallel=True, cache=True)
def standardise(series, eps, steps):
    for i in prange(series.shape[0]):
        mu = 0.0
        for t in range(series.shape[1]):
            mu += series[i, t]
        mu /= series.shape[1]
        for _ in range(steps):
            num = 0.0
            den = 0.0
            for t in range(series.shape[1]):
                r = abs(series[i, t] - mu)
                w = 1.0 if r <= 1.5 else 1.5 / r
                num += w * series[i, t]
                den += w
            mu = num / den
        var = 0.0
        for t in range(series.shape[1]):
            var += (series[i, t] - mu) ** 2
        sd = np.sqrt(var / series.shape[1]) + eps
        for t in range(series.shape[1]):
            series[i, t] = (series[i, t] - mu) / sd
    return series.shape[0]


# a map beside a reduction (the shape of numbagg's moving statistics with a total)
@checkpointed_loop
@njit(parallel=True, cache=True)
def smoothed(a, window):
    out = np.empty_like(a)
    total = 0.0
    for i in prange(a.shape[0]):
        lo = max(0, i - window + 1)
        s = 0.0
        for k in range(lo, i + 1):
            s += a[k]
        out[i] = s / (i + 1 - lo)
        total += out[i]
    return out, total


# the shape of a landlab / pysheds diffusion sweep: a 5-point stencil with a source term,
# two buffers swapped every step
@checkpointed_loop
@njit(parallel=True, cache=True)
def diffuse(u, source, steps, k):
    v = u.copy()
    for _ in range(steps):
        for i in prange(1, u.shape[0] - 1):
            for j in range(1, u.shape[1] - 1):
                lap = u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1] - 4.0 * u[i, j]
                v[i, j] = u[i, j] + k * lap + source[i, j]
        u, v = v, u
    return u


# the shape of a per-cell relaxation in place into the argument (quantecon's value
# iteration per state, without the max): every step reads only its own row
@checkpointed_loop
@njit(parallel=True, cache=True)
def relax(x, target, steps, rate):
    for _ in range(steps):
        for i in prange(x.shape[0]):
            for j in range(x.shape[1]):
                x[i, j] += rate * (target[i, j] - x[i, j]) * np.cos(x[i, j])
    return x.sum()


# a step that reads rows far from its own (a reflection): no halo bounds the reads
@checkpointed_loop
@njit(parallel=True, cache=True)
def mirror(u, steps):
    v = np.empty_like(u)
    n = u.shape[0]
    for _ in range(steps):
        for i in prange(n):
            v[i] = 0.5 * (u[i] + u[n - 1 - i]) + 0.25 * np.sin(u[i])
        u, v = v, u
    return u


# a convergence loop on simulated time (the shape of an explicit solver run to `t_end`):
# every rank tests the same number, so all stop at the same step
@checkpointed_loop
@njit(parallel=True, cache=True)
def until(u, t_end, dt):
    v = u.copy()
    t = 0.0
    it = 0
    while t < t_end:
        for i in prange(1, u.shape[0] - 1):
            v[i] = u[i] + dt * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u, v = v, u
        t += dt
        it += 1
    return u, it


# a residual reduced in every step (the shape of a Jacobi sweep with its error)
@checkpointed_loop
@njit(parallel=True, cache=True)
def residual(u, steps):
    v = u.copy()
    err = 0.0
    for _ in range(steps):
        err = 0.0
        for i in prange(1, u.shape[0] - 1):
            v[i] = 0.5 * (u[i - 1] + u[i + 1])
            err += abs(v[i] - u[i])
        u, v = v, u
    return u, err


# a power iteration run to convergence (the shape of networkx's / scipy's PageRank): a map
# that reads every row of the iterate, then an L1 change reduced over the rows; the test
# reads the reduced value, so every rank stops at the same step
@checkpointed_loop
@njit(parallel=True, cache=True)
def rank_until(links, damping, tol):
    n = links.shape[0]
    x = np.full(n, 1.0 / n)
    y = np.empty(n)
    delta = 1.0
    sweeps = 0
    while delta > tol:
        for i in prange(n):
            s = 0.0
            for j in range(n):
                s += links[i, j] * x[j]
            y[i] = (1.0 - damping) / n + damping * s
        delta = 0.0
        for i in prange(n):
            delta += abs(y[i] - x[i])
        x, y = y, x
        sweeps += 1
    return x, sweeps, delta


# a predictor-corrector step (Heun's method, as in explicit PDE codes such as pyclaw's
# two-stage Runge-Kutta): the corrector reads the predictor's rows around its own, which
# the neighbouring rank wrote in the same step
@checkpointed_loop
@njit(parallel=True, cache=True)
def heun(u, steps, dt):
    n = u.shape[0]
    w = u.copy()
    v = u.copy()
    for _ in range(steps):
        for i in prange(1, n - 1):
            for j in range(u.shape[1]):
                w[i, j] = u[i, j] + dt * (u[i - 1, j] - 2.0 * u[i, j] + u[i + 1, j])
        for i in prange(1, n - 1):
            for j in range(u.shape[1]):
                lap = w[i - 1, j] - 2.0 * w[i, j] + w[i + 1, j]
                v[i, j] = 0.5 * (u[i, j] + w[i, j] + dt * lap)
        u, v = v, u
    return u


# a histogram reduced in every step (the shape of a Monte Carlo transport code's estimator,
# as tardis bins its packets' energies): the tiles' partials are whole arrays of bins
@checkpointed_loop
@njit(parallel=True, cache=True)
def binned(x, steps):
    weights = np.zeros(16)
    y = x.copy()
    for _ in range(steps):
        for i in prange(y.shape[0]):
            y[i] = (y[i] * 3.7 + 0.1) % 1.0
        for i in prange(y.shape[0]):
            weights[int(y[i] * 16)] += y[i]
    return weights, y


# two reductions in a step whose tiles start on different rows: no cut between ranks
# leaves both whole, so it runs on one rank only
@checkpointed_loop
@njit(parallel=True, cache=True)
def offgrid(u, steps):
    n = u.shape[0]
    v = u.copy()
    inner = 0.0
    change = 0.0
    for _ in range(steps):
        inner = 0.0
        for i in prange(1, n - 1):
            v[i] = 0.5 * (u[i - 1] + u[i + 1])
            inner += v[i]
        change = 0.0
        for i in prange(n):
            change += abs(v[i] - u[i])
        u, v = v, u
    return u, inner, change


# a step that reads, outside its prange loops, a row of an array they write (the middle
# value as a scale): only one rank holds that row, so it runs on one rank only
@checkpointed_loop
@njit(parallel=True, cache=True)
def peek(u, steps):
    v = u.copy()
    for _ in range(steps):
        for i in prange(u.shape[0]):
            v[i] = 0.5 * (u[i] + u[i] * u[i])
        mid = v[v.shape[0] // 2]
        for i in prange(u.shape[0]):
            u[i] = v[i] / mid
    return u


# a kernel of three loops (the shape of a preprocessing pipeline such as scanpy's
# normalise, smooth, then score): a map into a new array, time steps on it, a total
@checkpointed_loop
@njit(parallel=True, cache=True)
def pipeline(x, steps, rate):
    y = np.empty_like(x)
    for i in prange(x.shape[0]):
        s = 0.0
        for j in range(x.shape[1]):
            s += x[i, j]
        for j in range(x.shape[1]):
            y[i, j] = x[i, j] / s
    z = y.copy()
    for _ in range(steps):
        for i in prange(1, y.shape[0] - 1):
            for j in range(y.shape[1]):
                z[i, j] = y[i, j] + rate * (y[i - 1, j] - 2.0 * y[i, j] + y[i + 1, j])
        y, z = z, y
    total = 0.0
    for i in prange(y.shape[0]):
        for j in range(y.shape[1]):
            total += y[i, j] * y[i, j]
    return y, total


def make(shape: str, n: int) -> tuple:
    """The arguments of ``shape`` for size ``n`` (the same on every rank)."""
    rng = np.random.default_rng(7)
    if shape == "distances":
        return rng.standard_normal((n, 48)), rng.standard_normal((300, 48))
    if shape == "standardise":
        return (rng.standard_normal((n, 64)) * 3.0 + 1.0, 1e-12, 40)
    if shape == "smoothed":
        return (rng.standard_normal(n), 37)
    if shape == "diffuse":
        return (rng.random((n, 192)), rng.random((n, 192)) * 1e-3, 600, 0.2)
    if shape == "relax":
        return (rng.random((n, 128)), rng.random((n, 128)), 120, 0.05)
    if shape == "mirror":
        return (rng.random(n), 200)
    if shape == "until":
        return (rng.random(n), 1.0, 0.001)
    if shape == "kmeans":
        return kmeans_args(n)
    if shape in ("residual", "offgrid", "peek"):
        return (rng.random(n), 50)
    if shape == "binned":
        return (rng.random(n), 60)
    if shape == "rank_until":
        links = np.roll(np.eye(n), 1, axis=0) + 1e-6 * rng.random((n, n))  # a ring, and noise
        return (links / links.sum(axis=0), 0.85, 1e-13)
    if shape == "heun":
        return (rng.random((n, 64)), 400, 0.2)
    if shape == "pipeline":
        return (rng.random((n, 96)) + 0.5, 1200, 0.2)
    raise SystemExit(f"unknown shape {shape}")


KERNELS = {
    "distances": distances,
    "standardise": standardise,
    "smoothed": smoothed,
    "diffuse": diffuse,
    "relax": relax,
    "mirror": mirror,
    "until": until,
    "residual": residual,
    "rank_until": rank_until,
    "binned": binned,
    "heun": heun,
    "offgrid": offgrid,
    "peek": peek,
    "kmeans": kmeans,
    "pipeline": pipeline,
}


def main(argv: list[str]) -> int:
    shapes, sizes, root, *rest = argv
    rank = int(os.environ.get("PMI_RANK", "0"))
    for arg in rest:  # fewer files per rank before they are written again as one
        if arg.startswith("--max-pieces="):
            saved.MAX_PIECES = int(arg.partition("=")[2])
    os.makedirs(root, exist_ok=True)
    os.environ["BLOCKLOOP_DIR"] = root
    for shape, n in zip(shapes.split(","), sizes.split(","), strict=True):
        code = run(shape, int(float(n)), rank, os.path.join(root, f"out-{shape}-{rank}.json"), rest)
        if code:
            return code
    return 0


def run(shape: str, n: int, rank: int, path: str, rest: list[str]) -> int:
    """Run one kernel and write what this rank returned to ``path``; the exit code."""
    kernel = KERNELS[shape]
    gather = [a.partition("=")[2] for a in rest if a.startswith("--gather=")]
    if gather:  # the same kernel with another `gather=`
        kernel = checkpointed_loop(gather=gather[0])(kernel.original)
    args = make(shape, n)
    try:
        result = kernel.original(*args) if "--plain" in rest else kernel(*args)
    except Interrupted as exc:
        with open(path, "w") as f:
            json.dump({"rank": rank, "exit": exc.code}, f)
        return int(exc.code)  # type: ignore[arg-type]
    report = kernel.last_report
    out = {
        "rank": rank,
        "hash": describe(result)["hash"],
        "inputs": [describe(a)["hash"] for a in args if isinstance(a, np.ndarray)],
        "report": report.as_dict() if report is not None and "--plain" not in rest else None,
    }
    with open(path, "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
