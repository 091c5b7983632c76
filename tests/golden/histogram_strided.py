import numpy as np
from numba import prange


def hist(x, nb):
    h = np.zeros(nb)
    m = -1.0
    for i in prange(1, x.shape[0], 2):
        k = int(x[i] * nb)
        h[k] = h[k] + 1.0
        m = max(x[i], m)
    return h, m
