# A convergence loop: the step's prange computes a residual (a max reduction) that the
# while test reads.
import numpy as np
from numba import njit, prange


@njit(parallel=True)
def until_small(x, b, tol):
    r = tol + 1.0
    sweeps = 0
    while r > tol:
        r = 0.0
        for i in prange(x.shape[0]):
            new = 0.5 * (x[i] + b[i] / (1.0 + x[i] * x[i]))
            r = max(r, abs(new - x[i]))
            x[i] = new
        sweeps += 1
    return sweeps, r
