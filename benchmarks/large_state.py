"""Checkpointing a large state: heat2d with two N x N float64 buffers (>= 256 MB by default).

Prints, all measured in this run:

(a) the disk's own durable write bandwidth (files of the state's size, write + fsync, each
    new one made durable before the previous one is deleted, as a checkpoint rotation does);
(b) blockloop's checkpoint write bandwidth (bytes of one generation / seconds to commit
    it durably, on the background writer) -- goal >= 70 % of (a);
(c) how much of the background write time the compute loop was held up (waiting for the
    previous write and copying the snapshot) -- goal <= 10 %;
(d) the overhead ratio blockloop / plain numba at the Daly interval for MTBF = 1 h, over
    interleaved repetitions (median).

    python benchmarks/large_state.py                 # 4096 x 4096: 256 MB of state
    python benchmarks/large_state.py --size 2048 --seconds 10 --reps 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blockloop import checkpointed_loop, daly_interval
from blockloop.store import RunPaths, Store
from kernels.heat2d import heat2d, make_args


def disk_bandwidth(nbytes: int, where: str, files: int = 4) -> float:
    """Bytes per second of durable writes of ``nbytes`` (write, fsync) into ``where``.

    Written the way a checkpoint store must: each new file is made durable while the
    previous one still exists, and only then is the previous one deleted (deleting first
    would hand the next write the pages just freed, a state a real rotation never sees).
    The median over ``files`` writes.
    """
    block = np.random.default_rng(0).integers(0, 255, 64 << 20, dtype=np.uint8)
    times, previous = [], None
    for k in range(files):
        path = Path(where) / f"disk-probe-{k}.bin"
        start = time.perf_counter()
        with open(path, "wb") as f:
            left = nbytes
            while left > 0:
                chunk = memoryview(block)[: min(left, block.size)]
                f.write(chunk)
                left -= len(chunk)
            f.flush()
            os.fsync(f.fileno())
        times.append(time.perf_counter() - start)
        if previous is not None:
            previous.unlink()
        previous = path
    previous.unlink()
    return nbytes / statistics.median(times)


def steps_for(seconds: float, size: int) -> int:
    """Steps of the plain kernel that take about ``seconds`` on this machine."""
    u, _, alpha = make_args(0, size)
    heat2d.original(u, 2, alpha)  # compile
    t0 = time.perf_counter()
    heat2d.original(u, 10, alpha)
    per_step = (time.perf_counter() - t0) / 10
    return max(10, int(seconds / per_step))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="grid edge (default 4096)")
    parser.add_argument("--seconds", type=float, default=60.0, help="plain run length")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", default=".", help="where checkpoints go (default: here)")
    args = parser.parse_args()
    state_bytes = 2 * args.size * args.size * 8
    print(f"heat2d {args.size}x{args.size}: {state_bytes / 2**20:.0f} MiB of state")

    with tempfile.TemporaryDirectory(dir=args.dir) as root:
        disk = disk_bandwidth(state_bytes, root)
        print(f"(a) disk durable write bandwidth (rotating files): {disk / 2**20:.0f} MiB/s")

        # (b), (c): interval checkpoints every 2.5 s of compute, so that several go through
        # the writer and each finishes before the next is due
        steps = steps_for(min(args.seconds, 20.0), args.size)
        kernel = checkpointed_loop(checkpoint_dir=Path(root) / "bw", interval=2.5, keep=1)(
            heat2d.original
        )
        u, _, alpha = make_args(steps, args.size)
        kernel(u, steps, alpha)
        r = kernel.last_report
        per_ckpt = r.write_seconds / r.checkpoints
        print(
            f"(b) blockloop checkpoint bandwidth: {state_bytes / per_ckpt / 2**20:.0f} MiB/s "
            f"= {state_bytes / per_ckpt / disk:.0%} of (a) "
            f"({r.checkpoints} checkpoints, {per_ckpt:.2f} s each)"
        )
        store = Store(RunPaths(Path(root), "idle"), {"kernel": "bench"}, keep=1)
        with store:
            snapshot = {"u": u.copy(), "v": u.copy()}
            idle = statistics.median(store.save(snapshot, {})[1] for _ in range(3))
        print(
            f"    the same commit on an idle machine (no compute beside it): "
            f"{state_bytes / idle / 2**20:.0f} MiB/s = {state_bytes / idle / disk:.0%} of (a)"
        )
        background = r.write_seconds - per_ckpt  # the final checkpoint is synchronous
        print(
            f"(c) compute loop held up {r.blocked_seconds:.2f} s of {background:.2f} s of "
            f"background writing = {r.blocked_seconds / max(background, 1e-9):.1%}"
        )

        # (d): the default policy with MTBF = 1 h against plain numba, interleaved
        steps = steps_for(args.seconds, args.size)
        ratios, checkpoints = [], []
        for rep in range(args.reps):
            u, _, alpha = make_args(steps, args.size)
            t0 = time.perf_counter()
            plain = heat2d.original(u, steps, alpha)
            t_plain = time.perf_counter() - t0
            kernel = checkpointed_loop(checkpoint_dir=Path(root) / f"d{rep}", mtbf="1h", keep=1)(
                heat2d.original
            )
            u, _, alpha = make_args(steps, args.size)
            t0 = time.perf_counter()
            blocked = kernel(u, steps, alpha)
            t_blocked = time.perf_counter() - t0
            assert np.array_equal(plain, blocked)
            ratios.append(t_blocked / t_plain)
            checkpoints.append(kernel.last_report.checkpoints)
            r = kernel.last_report
            print(
                f"    rep {rep}: plain {t_plain:.2f} s, blockloop {t_blocked:.2f} s, "
                f"{r.checkpoints} checkpoints, write cost {r.write_cost:.3f} s, "
                f"interval {r.interval:.1f} s (Daly {daly_interval(r.write_cost, 3600):.1f} s)"
            )
        print(
            f"(d) overhead at MTBF 1 h ({steps} steps): median ratio "
            f"{statistics.median(ratios):.4f} (per rep: {', '.join(f'{x:.4f}' for x in ratios)}), "
            f"checkpoints per run {checkpoints}"
        )


if __name__ == "__main__":
    main()
