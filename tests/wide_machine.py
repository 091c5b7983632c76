"""Run two reductions under the thread count numba was started with and print, as JSON, the
tiles of every chunk, the run's tiles, the room for partials and the result's bits.

``NUMBA_NUM_THREADS=64 python -m tests.wide_machine DIR`` stands for a 64-core node (on a
small machine the threads are oversubscribed: this checks decisions, not speed)."""

from __future__ import annotations

import json
import sys

import numba
import numpy as np

from blockloop import checkpointed_loop
from blockloop.runtime import reduction
from kernels.histogram import histogram, make_args
from kernels.pi import pi

CASES = {
    # a scalar accumulator: many small tiles
    "pi": (pi, (2_000_000,)),
    # a 10^4-bin histogram (80 kB partials) under a 1 MiB budget for partials: stands for
    # a histogram of 10^6 bins on a long run, whose budget holds fewer tiles than threads
    "wide_histogram": (histogram, make_args(3_000_000, 10_000)),
}
BUDGET = 1 << 20


def main(root: str) -> dict:
    chunks: list[int] = []
    allocated: list[int] = []
    advance, allocate = reduction.ReductionKind.advance, reduction.ReductionKind.allocate

    def counting_advance(self, first, count):
        if count:
            chunks.append(count)
        return advance(self, first, count)

    def counting_allocate(self, threads):
        allocated.append(allocate(self, threads))
        return allocated[-1]

    reduction.PARTIAL_BUDGET = BUDGET
    reduction.ReductionKind.advance = counting_advance  # type: ignore[method-assign]
    reduction.ReductionKind.allocate = counting_allocate  # type: ignore[method-assign]
    out: dict = {"threads": numba.get_num_threads()}
    for name, (kernel, args) in CASES.items():
        chunks.clear()
        blocked = checkpointed_loop(checkpoint_dir=f"{root}/{name}", progress=False)(
            kernel.original
        )
        value = np.asarray(blocked(*args))
        report = blocked.last_report
        out[name] = {
            "chunks": list(chunks),
            "tiles": report.units_total,
            "max_tiles": allocated[-1],
            "bits": value.tobytes().hex(),
        }
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
