from numba import prange


def pi(n):
    """Midpoint rule."""
    step = 1.0 / n
    total = 0.0
    for i in prange(n):
        x = (i + 0.5) * step
        total += 4.0 / (1.0 + x * x)
    return total * step
