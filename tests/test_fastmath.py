"""A ``fastmath`` kernel gives plain numba's bits in every process, the first (which
compiles it) and the next (which, with a disk cache, would load it).

numba optimises fastmath code loaded from its disk cache otherwise than code it has just
compiled, so the two differ in their last bits; a run interrupted in one process and resumed
in the next would mix them. blockloop compiles a fastmath kernel's generated code afresh in
each process, as plain numba without ``cache=True`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys

# the shape of a discrepancy measure: products of small polynomials, summed per row
SCRIPT = """
import sys
import numpy as np
from numba import njit, prange
from blockloop import checkpointed_loop


def discrepancy(data, check):
    out = np.zeros(check.shape[0])
    for i in prange(check.shape[0]):
        total = 0.0
        for j in range(data.shape[0]):
            prod = 1.0
            for k in range(data.shape[1]):
                g = abs(check[i, k] - data[j, k])
                prod *= 1.5 - g + g ** 2
            total += prod
        out[i] = total
    return out


rng = np.random.default_rng(29)
args = rng.random((50, 4)), rng.random((2000, 4))
compiled = njit(fastmath=True, parallel=True)(discrepancy)
plain = compiled(*args)
kernel = checkpointed_loop(checkpoint_dir=sys.argv[1])(compiled)
print(int(np.sum(kernel(*args) != plain)))
"""


def test_a_fastmath_kernel_has_plain_numbas_bits_in_every_process(tmp_path):
    script = tmp_path / "fast.py"  # blockloop reads a kernel's source from its file
    script.write_text(SCRIPT)
    env = dict(os.environ, BLOCKLOOP_CACHE_DIR=str(tmp_path / "cache"), BLOCKLOOP_PROGRESS="0")
    differing = []
    for run in ("first", "second"):  # the second would load the first's compiled code
        out = subprocess.run(
            [sys.executable, str(script), str(tmp_path / run)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        differing.append(int(out.stdout.split()[-1]))
    assert differing == [0, 0]
