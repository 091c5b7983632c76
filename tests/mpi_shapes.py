"""Kernels of each loop shape, run under ``mpiexec`` by ``tests/test_mpi_shapes.py``.

``python -m tests.mpi_shapes SHAPE N ROOT [--plain]`` runs one kernel on its arguments for
size ``N`` with checkpoints under ``ROOT``, and each rank writes ``ROOT/out-RANK.json``
(ranks print over each other): the hash of the result and of every argument array
(arrays written in place), and the call's report. ``--plain`` runs the plain numba
kernel (the reference bits). An interrupted run writes ``{"exit": 85}`` and exits with
that code. Every kernel is written here, in a shape found in real code.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from numba import njit, prange

from blockloop import Interrupted, checkpointed_loop
from blockloop.tools.selftest import describe


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


def make(shape: str, n: int) -> tuple:
    """The arguments of ``shape`` for size ``n`` (the same on every rank)."""
    rng = np.random.default_rng(7)
    if shape == "distances":
        return rng.standard_normal((n, 48)), rng.standard_normal((300, 48))
    if shape == "standardise":
        return (rng.standard_normal((n, 64)) * 3.0 + 1.0, 1e-12, 40)
    if shape == "smoothed":
        return (rng.standard_normal(n), 37)
    raise SystemExit(f"unknown shape {shape}")


KERNELS = {"distances": distances, "standardise": standardise, "smoothed": smoothed}


def main(argv: list[str]) -> int:
    shape, n, root, *rest = argv
    kernel = KERNELS[shape]
    args = make(shape, int(float(n)))
    rank = int(os.environ.get("PMI_RANK", "0"))
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, f"out-{rank}.json")
    try:
        if "--plain" in rest:
            result = kernel.original(*args)
        else:
            os.environ["BLOCKLOOP_DIR"] = root
            result = kernel(*args)
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
