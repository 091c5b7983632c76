"""A kernel that reads module globals set in ``main()`` (issue 27, item 1): a table filled
from the command line, a scalar rebound there, a helper defined below the kernel, and a
NumPy function imported by name (its repr holds its address: another in each process).

``python -m tests.globals_kernel DIR VALUE SCALE`` prints the result and the run directory.
"""

import json
import sys

import numpy as np
from numba import njit, prange
from numpy import around

from blockloop import checkpointed_loop

TABLE = np.zeros(1000)
SCALE = 1.0


def make(checkpoint_dir):
    @checkpointed_loop(checkpoint_dir=checkpoint_dir)
    @njit(parallel=True)
    def tsum(n):
        s = 0.0
        for i in prange(n):
            s += TABLE[i % 1000] * around(SCALE, 3) * weight(i)
        return s

    return tsum


@njit
def weight(i):
    return 1.0 + (i % 3 == 0)


def expected(n, value, scale):
    i = np.arange(n)
    return float(np.sum(value * scale * (1.0 + (i % 3 == 0))))


if __name__ == "__main__":
    tsum = make(sys.argv[1])  # decorated before the globals are set, as a module would
    TABLE[:] = float(sys.argv[2])
    SCALE = float(sys.argv[3])
    result = tsum(300_000)
    print(json.dumps({"result": result, "run_dir": str(tsum.run_dir(300_000))}))
