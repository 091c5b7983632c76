"""What checkpoints of loops that write arrays cost: bytes written and time.

Three figures, measured in this run:

1. A map loop (``kernels.features``: each iteration fills its own row of a new array)
   with >= 1 GiB of output, at a fixed interval giving >= 10 checkpoints: the bytes all
   checkpoints wrote divided by the output's size. Goal <= 1.1 (a full snapshot at each
   checkpoint would write about k/2 times the output).
2. A loop that fills rows through a helper (so blockloop saves its array whole, by
   changed blocks) at an interval in which it changes about 5 % of the array: the bytes
   written divided by k full snapshots. Goal <= 0.15.
3. The map loop at the Daly interval for an MTBF of 1 h against plain numba: the median
   ratio of wall times over interleaved repetitions. Goal <= 1.05.

    python benchmarks/map_incremental.py                      # 1 GiB, >= 30 s per run
    python benchmarks/map_incremental.py --rows 2e6 --reps 1  # a quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blockloop import checkpointed_loop
from kernels.features import WIDTH, features


@njit(cache=True)
def _fill(out, i, terms):
    x = (i + 0.5) / out.shape[0]
    for m in range(out.shape[1]):
        acc = 0.0
        for t in range(terms):
            acc += np.sin((m + 1) * (t + 1) * x) / (t + 1)
        out[i, m] = acc


@njit(parallel=True, cache=True)
def fill_rows(out, terms):
    for i in prange(out.shape[0]):
        _fill(out, i, terms)


def written(root: str) -> tuple[int, int]:
    """Bytes of every generation's npz under ``root`` (kept with keep=10**6), and how many."""
    manifests = sorted(Path(root).glob("*/ckpt-*.json"))
    total = sum(json.loads(m.read_text())["npz_size"] for m in manifests)
    return total, len(manifests)


def timed(call) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = call()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=2**24, help="rows of 8 doubles")
    parser.add_argument("--terms", type=int, default=70, help="work per element")
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    rows, terms = int(args.rows), args.terms
    size = rows * WIDTH * 8
    plain = features.original
    print(f"{numba.get_num_threads()} threads; map output {size / 2**30:.2f} GiB")
    plain(1000, WIDTH, terms), fill_rows(np.zeros((1000, WIDTH)), terms)  # compile

    # 1. the map loop at a fixed interval: >= 10 checkpoints
    seconds, _ = timed(lambda: plain(rows, WIDTH, terms))
    interval = seconds / 14
    with tempfile.TemporaryDirectory(dir=".") as root:
        kernel = checkpointed_loop(checkpoint_dir=root, interval=interval, keep=10**6)(plain)
        kernel(rows, WIDTH, terms)
        total, k = written(root)
    print(
        f"map: plain {seconds:.1f} s; {k} checkpoints at {interval:.2f} s wrote "
        f"{total / 2**20:.0f} MiB = {total / size:.3f} x the output (goal <= 1.1; a full "
        f"snapshot at each would write about {(k + 1) / 2:.1f} x)"
    )

    # 2. the whole-state loop: about 5 % of the array changes per interval
    out = np.zeros((rows // 4, WIDTH))
    seconds, _ = timed(lambda: fill_rows(out, terms))
    with tempfile.TemporaryDirectory(dir=".") as root:
        kernel = checkpointed_loop(checkpoint_dir=root, interval=seconds / 20, keep=10**6)(
            fill_rows
        )
        assert kernel.plan.blocks == ("out",), kernel.plan
        kernel(np.zeros_like(out), terms)
        total, k = written(root)
    print(
        f"whole state ({out.nbytes / 2**20:.0f} MiB, by changed blocks): {k} checkpoints wrote "
        f"{total / 2**20:.0f} MiB = {total / (k * out.nbytes):.3f} of {k} full snapshots "
        "(goal <= 0.15)"
    )

    # 3. the map loop at the Daly interval for MTBF 1 h, interleaved with plain numba
    ratios = []
    for rep in range(args.reps):
        t_plain, _ = timed(lambda: plain(rows, WIDTH, terms))
        with tempfile.TemporaryDirectory(dir=".") as root:
            daly = checkpointed_loop(checkpoint_dir=root, mtbf="1h", progress=False)(plain)
            t0 = time.perf_counter()
            daly(rows, WIDTH, terms)
            t_blocked = time.perf_counter() - t0
            report = daly.last_report
        ratios.append(t_blocked / t_plain)
        print(
            f"  rep {rep}: plain {t_plain:.2f} s, blockloop {t_blocked:.2f} s "
            f"(computing {report.compute_time:.2f} s; {report.checkpoints} checkpoints, "
            f"interval {report.interval:.1f} s, held up {report.blocked_seconds:.2f} s)"
        )
    print(f"map at Daly(MTBF 1 h): median ratio {statistics.median(ratios):.4f} (goal <= 1.05)")


if __name__ == "__main__":
    main()
