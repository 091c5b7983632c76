# A time loop: each step a parallel 5-point update into a second buffer, then a swap.
import numpy as np
from numba import njit, prange


@njit(parallel=True)
def heat_steps(u, steps, alpha):
    v = np.empty_like(u)
    n, m = u.shape
    for t in range(steps):
        for i in prange(1, n - 1):
            for j in range(1, m - 1):
                lap = u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1] - 4.0 * u[i, j]
                v[i, j] = u[i, j] + alpha * lap
        for i in prange(1, n - 1):
            for j in range(1, m - 1):
                u[i, j] = v[i, j]
    return u
