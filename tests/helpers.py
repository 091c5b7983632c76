"""Helpers shared by several test modules: a kernel with swapped state, its input, an
injected clock and a store that stands for the process dying."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from blockloop.storage.store import Store

__all__ = ["Crash", "Ticks", "crashing_store", "fresh", "swap_kernel"]


@njit(parallel=True, cache=True)
def swap_kernel(u, steps):
    v = np.zeros_like(u)
    total = 0.0
    for t in range(steps):
        for i in prange(1, u.shape[0] - 1):
            v[i] = 0.25 * u[i - 1] + 0.5 * u[i] + 0.25 * u[i + 1] + 1e-3 * t
        u, v = v, u
        total += u[u.shape[0] // 2]
    return u, total


def fresh() -> np.ndarray:
    return np.sin(np.linspace(0.0, 7.0, 257))


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs."""


def crashing_store(after: int) -> type[Store]:
    class CrashingStore(Store):
        saves = 0

        def save(self, arrays, state, **kw):
            CrashingStore.saves += 1
            if CrashingStore.saves > after:
                raise Crash
            return super().save(arrays, state, **kw)

    return CrashingStore


class Ticks:
    """A clock that moves ``step`` seconds per reading, and ``extra`` more on request."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now
