# golden: exact
# Exact sums (exact=True): two float accumulators summed exactly, one count kept plain.
from numba import njit, prange


@njit(parallel=True)
def exact_moments(x, lo):
    s1 = 0.0
    s2 = 0.0
    kept = 0
    for i in prange(x.shape[0]):
        if x[i] >= lo:
            s1 += x[i]
            s2 += x[i] * x[i]
            kept += 1
    mean = s1 / kept
    return mean, s2 / kept - mean * mean
