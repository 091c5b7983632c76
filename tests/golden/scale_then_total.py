# Two phases: a map loop writes a new array, a reduction loop then sums it.
import numpy as np
from numba import njit, prange


@njit(parallel=True)
def scale_then_total(x, w):
    y = np.empty_like(x)
    for i in prange(x.shape[0]):
        y[i] = w * x[i] + 1.0
    total = 0.0
    for i in prange(y.shape[0]):
        total += y[i]
    return y, total
