"""Lloyd's k-means: each iteration assigns every point to its nearest centre (a map loop
that also counts the changed labels) and moves each centre to the mean of its points
(per-cluster sums as indexed array reductions); it stops when no label changes.

The centres are an argument updated in place; the sums and counts inside the step use
blockloop's fixed tiles, so the labels and the iteration count do not depend on the
thread count (in plain numba, ``counts[c] += 1`` in a ``prange`` loop is a data race).
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from blockloop import checkpointed_loop


@checkpointed_loop
@njit(parallel=True, cache=True)
def kmeans(x, centers, maxit):
    n, d = x.shape
    k = centers.shape[0]
    labels = np.full(n, -1)
    it = 0
    for _ in range(maxit):
        changed = 0
        for i in prange(n):
            best = 0
            best_dist = np.inf
            for c in range(k):
                dist = 0.0
                for j in range(d):
                    diff = x[i, j] - centers[c, j]
                    dist += diff * diff
                if dist < best_dist:
                    best_dist = dist
                    best = c
            if labels[i] != best:
                changed += 1
            labels[i] = best
        sums = np.zeros((k, d))
        counts = np.zeros(k)
        for i in prange(n):
            c = labels[i]
            counts[c] += 1.0
            for j in range(d):
                sums[c, j] += x[i, j]
        for c in range(k):
            if counts[c] > 0:
                for j in range(d):
                    centers[c, j] = sums[c, j] / counts[c]
        it += 1
        if changed == 0:
            break
    return labels, it


def make_args(n: int, size: int = 16) -> tuple:
    """``n`` points in 4 dimensions around ``size`` blobs; the first ``size`` points are
    the initial centres; at most 1,000 iterations."""
    rng = np.random.default_rng(3)
    means = rng.uniform(-10.0, 10.0, (size, 4))
    x = means[rng.integers(0, size, n)] + rng.standard_normal((n, 4)) * 3.0
    return (x, x[:size].copy(), 1000)


if __name__ == "__main__":
    from kernels._cli import main

    sys.exit(main(kmeans, make_args, 200_000, doc=__doc__, size=16))
