from numba import prange


def ops(a, lo):
    s = 0
    p = 1.0
    bits = 0
    both = -1
    odd = 0
    low = a[0]
    for i in prange(lo, a.shape[0]):
        v = a[i]
        s = v + s
        s -= 1
        p *= 1.0 + v * 1e-9
        bits |= v
        both &= v | 1
        odd ^= v
        if v > 0:
            low = min(low, v)
    return s, p, bits, both, odd, low
